import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { noteAccessError } from './access.svelte.ts';
import { type Batch, type LogLine, linesOf } from './log-batch.ts';
import { JobLogBatch } from './queries.ts';

export type { LogLine };

const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
const query = print(JobLogBatch);

/**
 * Follows a job's log: stored lines, then live ones, in the compact form (each batch's fields once, not per line: less
 * to send and to parse when thousands of lines a second come). graphql-ws replays nothing after a dropped connection,
 * so on every (re)connection this subscribes again after the last sequence number received: no gap, no duplicate.
 */
export function followLog(
  jobId: string,
  onLines: (lines: LogLine[]) => void,
  onState: (state: 'live' | 'reconnecting' | 'done' | 'denied') => void,
): () => void {
  let last = 0;
  let stopped = false;
  let dispose: (() => void) | null = null;
  // No automatic retry: a retry would re-send the first afterSeq. A dropped connection ends in `error`, and the
  // subscription is made anew after the last line received.
  const client = createClient({ url, lazy: true, retryAttempts: 0, on: { connected: () => onState('live') } });
  const start = () => {
    dispose = client.subscribe<{ jobLogBatch: Batch }>(
      { query, variables: { jobId, afterSeq: last } },
      {
        next: (message) => {
          const lines = message.data ? linesOf(message.data.jobLogBatch, last) : [];
          if (lines.length === 0) return;
          last = lines[lines.length - 1]?.seq ?? last;
          onLines(lines);
        },
        error: (error) => {
          if (stopped) return;
          // Access gone (signed out, token revoked, membership removed): no point in reconnecting.
          if (noteAccessError(error)) return onState('denied');
          onState('reconnecting');
          setTimeout(() => !stopped && start(), 1000);
        },
        complete: () => onState('done'),
      },
    );
  };
  start();
  return () => {
    stopped = true;
    dispose?.();
    void client.dispose();
  };
}

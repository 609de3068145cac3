import { describe, expect, it } from 'vitest';
import { linesOf } from '../../ui/src/lib/log-batch.ts';
import { type FeedLine, logBatchOf } from '../src/graphql/log-batch.ts';

const line = (seq: number, stream: FeedLine['stream'], ms: number): FeedLine => ({
  seq,
  stream,
  text: `line ${seq}`,
  at: new Date(ms).toISOString(),
  ms,
});

describe('the compact form of a batch of log lines', () => {
  it('sends seqs only when they are not consecutive, and the console reads back the same lines', () => {
    const consecutive = [line(4, 'STDOUT', 1000), line(5, 'STDERR', 1003), line(6, 'SYSTEM', 1010)];
    const batch = logBatchOf(consecutive);
    expect(batch).toEqual({
      firstSeq: 4,
      lastSeq: 6,
      seqs: null,
      streams: 'OES',
      texts: ['line 4', 'line 5', 'line 6'],
      at: '1970-01-01T00:00:01.000Z',
      offsets: [0, 3, 10],
    });
    const gap = [line(7, 'STDOUT', 2000), line(12, 'STDOUT', 2001)];
    expect(logBatchOf(gap).seqs).toEqual([7, 12]);
    const back = (lines: FeedLine[]) => lines.map(({ seq, stream, text }) => ({ seq, stream, text }));
    expect(linesOf(batch, 0)).toEqual(back(consecutive));
    expect(linesOf(logBatchOf(gap), 0)).toEqual(back(gap));
    // After a resume, lines the console already has are dropped.
    expect(linesOf(batch, 5)).toEqual(back(consecutive.slice(2)));
  });
});

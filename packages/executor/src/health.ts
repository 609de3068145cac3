import { setTimeout as sleep } from 'node:timers/promises';
import type { LogSink } from './log-sink.ts';

/**
 * Polls the project's health-check URL for one target until it answers 2xx, for at most `timeoutSeconds`.
 * `{host}` in the URL is the target's host (localhost for a local target).
 */
export async function checkHealth(
  urlTemplate: string,
  host: string,
  timeoutSeconds: number,
  sink: LogSink,
  signal: AbortSignal,
): Promise<void> {
  const url = urlTemplate.replaceAll('{host}', host.includes(':') ? `[${host}]` : host);
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = '';
  for (;;) {
    let answer: string;
    try {
      const response = await fetch(url, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(Math.max(1000, Math.min(10_000, deadline - Date.now())))]),
        redirect: 'manual',
      });
      await response.body?.cancel();
      if (response.status >= 200 && response.status < 300) {
        sink.system(`health check ${url}: ${response.status}`);
        return;
      }
      answer = `HTTP ${response.status}`;
    } catch (error) {
      if (signal.aborted) throw error;
      answer = (error as Error).message;
    }
    if (answer !== last) sink.system(`health check ${url}: ${answer}`);
    last = answer;
    if (Date.now() >= deadline) throw new Error(`health check ${url} failed: ${answer}`);
    await sleep(500, undefined, { signal });
  }
}

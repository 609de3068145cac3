import { Worker } from 'node:worker_threads';

/**
 * Runs `fn` while `threads` threads spin on the CPU (a busy CI machine, another test file, a slow laptop): a check
 * that depends on timing (a page looked at before its data came, a fixed wait) fails here, not in CI.
 */
export async function underLoad<T>(fn: () => Promise<T>, threads = 1): Promise<T> {
  const spinners = Array.from({ length: threads }, () => new Worker('for (;;) {}', { eval: true }));
  try {
    return await fn();
  } finally {
    await Promise.all(spinners.map((spinner) => spinner.terminate()));
  }
}

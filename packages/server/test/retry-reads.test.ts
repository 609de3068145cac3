import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { retryReadsOnBrokenConnection } from '../src/graphql/retry-reads.ts';

/** Runs the plugin's onExecute around an execute that fails the first `failures` times with `error`. */
async function run(query: string, failures: number, error: Error & { code?: string }) {
  let calls = 0;
  let forgotten = 0;
  const execute = async () => {
    calls++;
    if (calls <= failures) return { errors: [Object.assign(new Error('wrapped'), { originalError: error })] };
    return { data: { ok: true } };
  };
  let wrapped = execute as (args: unknown) => Promise<unknown>;
  const plugin = retryReadsOnBrokenConnection();
  // biome-ignore lint/suspicious/noExplicitAny: the hook's arguments, as envelop gives them, reduced to what it reads
  (plugin.onExecute as any)({
    args: { document: parse(query) },
    executeFn: execute,
    setExecuteFn: (fn: typeof wrapped) => {
      wrapped = fn;
    },
  });
  const result = await wrapped({ contextValue: { forget: () => forgotten++ } });
  return { result, calls, forgotten };
}

const broken = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });

describe('reads retried after a broken connection', () => {
  it('runs a query once more, afresh, when a pooled connection broke', async () => {
    expect(await run('{ me { id } }', 1, broken)).toEqual({ result: { data: { ok: true } }, calls: 2, forgotten: 1 });
  });

  it('never runs a mutation twice', async () => {
    const { calls } = await run('mutation { logout }', 1, broken);
    expect(calls).toBe(1);
  });

  it('does not retry other errors', async () => {
    const { calls } = await run('{ me { id } }', 1, Object.assign(new Error('syntax'), { code: '42601' }));
    expect(calls).toBe(1);
  });
});

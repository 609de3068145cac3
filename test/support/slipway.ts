import { fileURLToPath } from 'node:url';
import { BUNDLE_ENV } from '@slipway/server/config';
import { execa, type ResultPromise } from 'execa';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface RunningSlipway {
  url: string;
  output: string[];
  process: ResultPromise;
  /** Sends SIGTERM and waits for a clean exit; answers the exit code. */
  stop(): Promise<number | undefined>;
}

/** What `pnpm start` runs once it has bundled the sources (the tests' global set-up bundles them). */
export const SERVER_BUNDLE = ['--max-semi-space-size=8', 'packages/server/dist/main.js'];
/** The environment `pnpm start` and `pnpm executor` add (the server's own definition). */
export { BUNDLE_ENV };
/** What `pnpm executor` runs. */
export const EXECUTOR_BUNDLE = ['--max-semi-space-size=8', 'packages/executor/dist/main.js'];

/** Starts Slipway exactly as `pnpm start` does, as its own process, and waits until it listens. */
export async function startSlipway(env: Record<string, string>, timeoutMs = 90_000): Promise<RunningSlipway> {
  const child = execa('node', SERVER_BUNDLE, {
    cwd: repoRoot,
    env: { ...BUNDLE_ENV, PORT: '0', SLIPWAY_LOG_LEVEL: 'info', ...env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    lines: false,
  });
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line in time:\n${output.join('\n')}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() === '') continue;
        output.push(line);
        const match = /"url":"(http:\/\/[^"]+)".*"msg":"Slipway is listening"/.exec(line);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void child.then((result) => {
      clearTimeout(timer);
      reject(new Error(`Slipway exited (${result.exitCode}) before listening:\n${output.join('\n')}`));
    });
  });
  return {
    url,
    output,
    process: child,
    stop: async () => {
      child.kill('SIGTERM');
      return (await child).exitCode;
    },
  };
}

export async function graphql(url: string, query: string, variables?: Record<string, unknown>, token?: string) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as {
    // biome-ignore lint/suspicious/noExplicitAny: test responses are read field by field
    data?: Record<string, any>;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
}

import { type ExecutorConfig, Worker } from '@slipway/executor';
import { execa, type ResultPromise } from 'execa';
import { pino } from 'pino';
import { TEST_SECRET_KEY, type TestDatabase } from './db.ts';
import { BUNDLE_ENV, EXECUTOR_BUNDLE, repoRoot } from './slipway.ts';

/** An executor in this process (a real Worker on the test database), started; stop it in afterAll. */
export async function startTestWorker(
  database: TestDatabase,
  dataDir: string,
  overrides: Partial<ExecutorConfig> & { logger?: pino.Logger } = {},
): Promise<Worker> {
  const { logger, ...config } = overrides;
  const worker = new Worker(
    database,
    {
      databaseUrl: database.url,
      dataDir,
      pool: 'default',
      concurrency: 4,
      deliveryConcurrency: 2,
      leaseSeconds: 10,
      pollSeconds: 0.5,
      publicUrl: 'http://slipway.example.test',
      logLevel: 'silent',
      secretKey: TEST_SECRET_KEY,
      ...config,
    },
    logger ?? pino({ level: 'silent' }),
  );
  await worker.start();
  return worker;
}

/**
 * An executor as its own process (the bundle `pnpm executor` runs), in a process group of its own, with a short lease:
 * for tests that kill it outright. Kill the group with `process.kill(-child.pid, 'SIGKILL')` if it outlives the test.
 */
export function spawnExecutor(env: Record<string, string>): ResultPromise {
  return execa('node', EXECUTOR_BUNDLE, {
    cwd: repoRoot,
    env: {
      ...BUNDLE_ENV,
      SLIPWAY_LEASE_SECONDS: '3',
      SLIPWAY_POLL_SECONDS: '0.5',
      SLIPWAY_LOG_LEVEL: 'warn',
      SLIPWAY_SECRET_KEY: TEST_SECRET_KEY,
      ...env,
    },
    detached: true,
    reject: false,
    stdin: 'ignore',
  });
}

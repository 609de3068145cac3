import { type ExecutorConfig, Worker } from '@slipway/executor';
import { pino } from 'pino';
import type { TestDatabase } from './db.ts';

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
      leaseSeconds: 10,
      pollSeconds: 0.5,
      publicUrl: 'http://slipway.example.test',
      logLevel: 'silent',
      ...config,
    },
    logger ?? pino({ level: 'silent' }),
  );
  await worker.start();
  return worker;
}

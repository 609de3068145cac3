import { connect } from '@slipway/schema';
import { pino } from 'pino';
import { ConfigError, loadExecutorConfig } from './config.ts';
import { Worker } from './worker.ts';

let config: ReturnType<typeof loadExecutorConfig>;
try {
  config = loadExecutorConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`slipway executor: bad configuration: ${error.message}\n`);
  process.exit(2);
}

const logger = pino({ level: config.logLevel, base: { service: 'slipway-executor' } });
const database = connect(config.databaseUrl, { applicationName: 'slipway-executor' });
const worker = new Worker(database, config, logger);
await worker.start();
logger.info({ worker: worker.id, pool: config.pool, concurrency: config.concurrency }, 'executor ready');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'executor stopping');
  await worker.stop();
  await database.sql.end({ timeout: 5 });
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutdown(signal));

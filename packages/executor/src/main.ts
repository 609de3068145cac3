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
// Started by the server (`pnpm start`): stop once the server is gone, even when it was killed outright (this
// process is then adopted by another parent), and even when that happened while this one was still starting.
const serverPid = Number(process.env.SLIPWAY_SERVER_PID);
if (serverPid > 0) {
  const orphaned = () => process.ppid !== serverPid;
  if (orphaned()) void shutdown('server exited');
  else setInterval(() => orphaned() && void shutdown('server exited'), 500);
}

try {
  await worker.start();
} catch (error) {
  if (!stopping) throw error;
}
if (!stopping) logger.info({ worker: worker.id, pool: config.pool, concurrency: config.concurrency }, 'executor ready');

import type { AddressInfo } from 'node:net';
import { connect, type EmbeddedPostgres, migrate, startEmbeddedPostgres } from '@slipway/schema';
import { pino } from 'pino';
import { ensureAdmin } from './auth/bootstrap.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createSlipwayServer } from './http.ts';

const startedAt = performance.now();

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`slipway: bad configuration: ${error.message}\n`);
  process.exit(2);
}

const logger = pino({ level: config.logLevel, base: { service: 'slipway-server' } });

let embedded: EmbeddedPostgres | undefined;
let databaseUrl = config.databaseUrl;
if (!databaseUrl) {
  embedded = await startEmbeddedPostgres(config.dataDir, (line) => logger.debug({ postgres: line }, 'postgres'));
  databaseUrl = embedded.url;
  logger.info({ dataDir: config.dataDir, port: embedded.port }, 'embedded PostgreSQL running');
}
await migrate(databaseUrl);
const database = connect(databaseUrl, { applicationName: 'slipway-server' });

const admin = await ensureAdmin(database.db, config.adminPassword);
if (admin.generated) {
  process.stdout.write(
    `\nCreated the user "admin" with the password: ${admin.generated}\nIt is shown only this once; sign in and keep it safe.\n\n`,
  );
} else if (admin.created) {
  logger.info('created the user "admin" with the password from SLIPWAY_ADMIN_PASSWORD');
}

const server = await createSlipwayServer({ database, logger });
server.listen(config.port, config.host, () => {
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  logger.info(
    { url: `http://${host}:${port}`, startupMs: Math.round(performance.now() - startedAt) },
    'Slipway is listening',
  );
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  await server.shutdown();
  await database.sql.end({ timeout: 5 });
  await embedded?.stop();
  logger.info('stopped');
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutdown(signal));

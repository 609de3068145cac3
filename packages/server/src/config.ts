import { resolve } from 'node:path';
import { ConfigError, environmentFields, type LogLevel, readEnvironment } from '@slipway/schema';
import { z } from 'zod';
import type { DirectoryConfig } from './auth/directory.ts';

export { ConfigError } from '@slipway/schema';

/**
 * The environment `pnpm start` and `pnpm executor` give the bundles (and the server its executor): glibc's malloc keeps
 * a fixed mmap threshold, so the 19 MiB of a password hash go back to the system when freed (README, memory).
 */
export const BUNDLE_ENV = { MALLOC_MMAP_THRESHOLD_: '131072' } as const;

const environment = z.object({
  ...environmentFields,
  DATABASE_URL: environmentFields.DATABASE_URL.optional(),
  SLIPWAY_MIGRATION_DATABASE_URL: environmentFields.DATABASE_URL.optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  SLIPWAY_ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').max(1024).optional(),
  SLIPWAY_EXECUTOR: z.enum(['on', 'off']).default('on'),
  SLIPWAY_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').max(200).optional(),
  SLIPWAY_LDAP_URL: z
    .string()
    .regex(/^ldaps?:\/\/[^\s/]+\/?$/, 'must be ldap://host[:port] or ldaps://host[:port]')
    .optional(),
  SLIPWAY_LDAP_BIND_DN: z.string().min(3).max(500).optional(),
  SLIPWAY_LDAP_BIND_PASSWORD: z.string().max(500).optional(),
  SLIPWAY_LDAP_BASE_DN: z.string().min(3).max(500).optional(),
  SLIPWAY_LDAP_USER_FILTER: z
    .string()
    .regex(/^\(.*\{login\}.*\)$/, 'must be an LDAP filter in parentheses with {login} in it, e.g. (uid={login})')
    .default('(uid={login})'),
  SLIPWAY_LDAP_ADMIN_GROUP: z.string().min(3).max(500).optional(),
});

export interface Config {
  databaseUrl: string | undefined;
  /** The owner of Slipway's tables, which runs the migrations; DATABASE_URL's role then works with rows only. */
  migrationDatabaseUrl: string | undefined;
  port: number;
  host: string;
  dataDir: string;
  adminPassword: string | undefined;
  executorPool: string;
  /** Whether this process starts an executor beside the server (off for server-only replicas). */
  startExecutor: boolean;
  /** The console's address (links in webhooks); default http://HOST:PORT. */
  publicUrl: string;
  logLevel: LogLevel;
  /** When set, /metrics requires it as a Bearer token. */
  metricsToken: string | undefined;
  /** SLIPWAY_SECRET_KEY; without it, the key file in the data directory. */
  secretKey: string | undefined;
  /** Directory sign-in (SLIPWAY_LDAP_*); undefined: local accounts only. */
  directory: DirectoryConfig | undefined;
}

/** Reads and checks the environment once; a bad value stops start-up with one line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = readEnvironment(environment, env);
  if (e.SLIPWAY_LDAP_URL && !e.SLIPWAY_LDAP_BASE_DN)
    throw new ConfigError('SLIPWAY_LDAP_BASE_DN: is required with SLIPWAY_LDAP_URL (where people are searched)');
  if (!e.SLIPWAY_LDAP_URL && e.SLIPWAY_LDAP_BASE_DN)
    throw new ConfigError('SLIPWAY_LDAP_URL: is required with SLIPWAY_LDAP_BASE_DN');
  if (Boolean(e.SLIPWAY_LDAP_BIND_DN) !== Boolean(e.SLIPWAY_LDAP_BIND_PASSWORD))
    throw new ConfigError(
      'SLIPWAY_LDAP_BIND_PASSWORD: is set together with SLIPWAY_LDAP_BIND_DN (the service account)',
    );
  if (e.SLIPWAY_MIGRATION_DATABASE_URL && !e.DATABASE_URL)
    throw new ConfigError('SLIPWAY_MIGRATION_DATABASE_URL: is used only together with DATABASE_URL');
  return {
    databaseUrl: e.DATABASE_URL,
    migrationDatabaseUrl: e.SLIPWAY_MIGRATION_DATABASE_URL,
    port: e.PORT,
    host: e.HOST,
    dataDir: resolve(e.SLIPWAY_DATA_DIR),
    adminPassword: e.SLIPWAY_ADMIN_PASSWORD,
    executorPool: e.SLIPWAY_EXECUTOR_POOL,
    startExecutor: e.SLIPWAY_EXECUTOR === 'on',
    publicUrl: e.SLIPWAY_PUBLIC_URL ?? `http://${e.HOST.includes(':') ? `[${e.HOST}]` : e.HOST}:${e.PORT}`,
    logLevel: e.SLIPWAY_LOG_LEVEL,
    metricsToken: e.SLIPWAY_METRICS_TOKEN,
    secretKey: e.SLIPWAY_SECRET_KEY,
    directory: e.SLIPWAY_LDAP_URL
      ? {
          url: e.SLIPWAY_LDAP_URL,
          bindDn: e.SLIPWAY_LDAP_BIND_DN,
          bindPassword: e.SLIPWAY_LDAP_BIND_PASSWORD,
          baseDn: e.SLIPWAY_LDAP_BASE_DN as string,
          userFilter: e.SLIPWAY_LDAP_USER_FILTER,
          adminGroup: e.SLIPWAY_LDAP_ADMIN_GROUP,
        }
      : undefined,
  };
}

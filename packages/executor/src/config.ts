import { resolve } from 'node:path';
import { z } from 'zod';

const environment = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL'),
  SLIPWAY_DATA_DIR: z.string().min(1).default('./.slipway'),
  SLIPWAY_EXECUTOR_POOL: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"')
    .default('default'),
  SLIPWAY_EXECUTOR_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  SLIPWAY_LEASE_SECONDS: z.coerce.number().int().min(2).max(3600).default(30),
  SLIPWAY_POLL_SECONDS: z.coerce.number().min(0.1).max(600).default(5),
  SLIPWAY_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface ExecutorConfig {
  databaseUrl: string;
  dataDir: string;
  pool: string;
  concurrency: number;
  /** A job whose executor stops renewing for this long is taken again by another executor. */
  leaseSeconds: number;
  /** The backstop poll, for leases that ran out and notifications that never came. */
  pollSeconds: number;
  logLevel: z.infer<typeof environment>['SLIPWAY_LOG_LEVEL'];
}

export class ConfigError extends Error {}

export function loadExecutorConfig(env: NodeJS.ProcessEnv = process.env): ExecutorConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = environment.safeParse(present);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`${String(issue?.path[0])}: ${issue?.message}`);
  }
  const e = result.data;
  return {
    databaseUrl: e.DATABASE_URL,
    dataDir: resolve(e.SLIPWAY_DATA_DIR),
    pool: e.SLIPWAY_EXECUTOR_POOL,
    concurrency: e.SLIPWAY_EXECUTOR_CONCURRENCY,
    leaseSeconds: e.SLIPWAY_LEASE_SECONDS,
    pollSeconds: e.SLIPWAY_POLL_SECONDS,
    logLevel: e.SLIPWAY_LOG_LEVEL,
  };
}

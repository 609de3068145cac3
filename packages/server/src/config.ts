import { resolve } from 'node:path';
import { z } from 'zod';

const environment = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  SLIPWAY_DATA_DIR: z.string().min(1).default('./.slipway'),
  SLIPWAY_ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').max(1024).optional(),
  SLIPWAY_EXECUTOR_POOL: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"')
    .default('default'),
  SLIPWAY_EXECUTOR: z.enum(['on', 'off']).default('on'),
  SLIPWAY_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface Config {
  databaseUrl: string | undefined;
  port: number;
  host: string;
  dataDir: string;
  adminPassword: string | undefined;
  executorPool: string;
  /** Whether this process starts an executor beside the server (off for server-only replicas). */
  startExecutor: boolean;
  logLevel: z.infer<typeof environment>['SLIPWAY_LOG_LEVEL'];
}

export class ConfigError extends Error {}

/** Reads and checks the environment once; a bad value stops start-up with one line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = environment.safeParse(present);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`${String(issue?.path[0])}: ${issue?.message}`);
  }
  const e = result.data;
  return {
    databaseUrl: e.DATABASE_URL,
    port: e.PORT,
    host: e.HOST,
    dataDir: resolve(e.SLIPWAY_DATA_DIR),
    adminPassword: e.SLIPWAY_ADMIN_PASSWORD,
    executorPool: e.SLIPWAY_EXECUTOR_POOL,
    startExecutor: e.SLIPWAY_EXECUTOR === 'on',
    logLevel: e.SLIPWAY_LOG_LEVEL,
  };
}

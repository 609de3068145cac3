import { z } from 'zod';

export class ConfigError extends Error {}

/** Settings both the server and the executor read. */
export const environmentFields = {
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL'),
  SLIPWAY_DATA_DIR: z.string().min(1).default('./.slipway'),
  SLIPWAY_EXECUTOR_POOL: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"')
    .default('default'),
  /** Where people reach the console; links in webhooks point there. */
  SLIPWAY_PUBLIC_URL: z
    .string()
    .regex(/^https?:\/\/\S+$/, 'must be an http:// or https:// URL')
    .optional(),
  /** Seals secrets at rest (repository credentials); default: a key file made in the data directory. */
  SLIPWAY_SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  SLIPWAY_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

export type LogLevel = z.infer<typeof environmentFields.SLIPWAY_LOG_LEVEL>;

/** Reads the environment once with a schema; a bad value throws ConfigError naming the variable. */
export function readEnvironment<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.output<T> {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(present);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`${String(issue?.path[0])}: ${issue?.message}`);
  }
  return result.data;
}

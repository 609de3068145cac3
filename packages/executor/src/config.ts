import { resolve } from 'node:path';
import { environmentFields, type LogLevel, readEnvironment } from '@slipway/schema';
import { z } from 'zod';

export { ConfigError } from '@slipway/schema';

const environment = z.object({
  ...environmentFields,
  SLIPWAY_EXECUTOR_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  SLIPWAY_LEASE_SECONDS: z.coerce.number().int().min(2).max(3600).default(30),
  SLIPWAY_POLL_SECONDS: z.coerce.number().min(0.1).max(600).default(5),
  SLIPWAY_DELIVERY_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  SLIPWAY_SSH_CONTROL_DIR: z.string().min(1).optional(),
  SLIPWAY_FAULT_AT: z.string().optional(),
  SLIPWAY_SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\/\S+$/, 'must be an smtp:// or smtps:// URL')
    .optional(),
  SLIPWAY_MAIL_FROM: z.string().min(3).max(300).optional(),
});

export interface ExecutorConfig {
  databaseUrl: string;
  dataDir: string;
  pool: string;
  concurrency: number;
  /** Webhook and notification deliveries at once, in slots of their own. */
  deliveryConcurrency: number;
  /** Where the executor keeps its private directory of ssh control sockets (default: the system's temp dir). */
  sshControlDir?: string | undefined;
  /** A job whose executor stops renewing for this long is taken again by another executor. */
  leaseSeconds: number;
  /** The backstop poll, for leases that ran out and notifications that never came. */
  pollSeconds: number;
  /** Tests only: the named step at which this executor kills itself (proving every step can be run again). */
  faultAt?: string | undefined;
  /** Tests only: one time limit, in seconds, for every job (instead of the kind's or the project's minutes). */
  timeLimitSeconds?: number | undefined;
  /** The console's address, for links in webhook payloads. */
  publicUrl: string | undefined;
  logLevel: LogLevel;
  /** SLIPWAY_SECRET_KEY (opens the repository credentials); without it, the key file in the data directory. */
  secretKey?: string | undefined;
  /** E-mail channels: `smtp://` or `smtps://user:pass@host:port`, and the sender. */
  smtpUrl?: string | undefined;
  mailFrom?: string | undefined;
}

export function loadExecutorConfig(env: NodeJS.ProcessEnv = process.env): ExecutorConfig {
  const e = readEnvironment(environment, env);
  return {
    databaseUrl: e.DATABASE_URL,
    dataDir: resolve(e.SLIPWAY_DATA_DIR),
    pool: e.SLIPWAY_EXECUTOR_POOL,
    concurrency: e.SLIPWAY_EXECUTOR_CONCURRENCY,
    deliveryConcurrency: e.SLIPWAY_DELIVERY_CONCURRENCY,
    sshControlDir: e.SLIPWAY_SSH_CONTROL_DIR ? resolve(e.SLIPWAY_SSH_CONTROL_DIR) : undefined,
    leaseSeconds: e.SLIPWAY_LEASE_SECONDS,
    pollSeconds: e.SLIPWAY_POLL_SECONDS,
    publicUrl: e.SLIPWAY_PUBLIC_URL,
    faultAt: e.SLIPWAY_FAULT_AT,
    logLevel: e.SLIPWAY_LOG_LEVEL,
    secretKey: e.SLIPWAY_SECRET_KEY,
    smtpUrl: e.SLIPWAY_SMTP_URL,
    mailFrom: e.SLIPWAY_MAIL_FROM,
  };
}

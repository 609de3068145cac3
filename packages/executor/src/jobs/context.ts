import {
  type Db,
  type EnvironmentRow,
  EventFailure,
  type JobRow,
  type projects,
  type SecretBox,
  type tickets,
} from '@slipway/schema';
import type { Logger } from 'pino';
import type { LogSink } from '../log-sink.ts';
import type { RunOptions } from '../tools/run.ts';
import type { JobConnections, SshSettings } from '../tools/ssh.ts';
import type { SourceAuth } from '../tools/svn.ts';

export type ProjectRow = typeof projects.$inferSelect;
export type TicketRow = typeof tickets.$inferSelect;

export interface JobContext {
  db: Db;
  job: JobRow;
  workerId: string;
  project: ProjectRow;
  ticket: TicketRow | null;
  /**
   * The environment the job works on: its ticket's; a verification's when it names one; a target check's target's;
   * null otherwise (all of them, or none).
   */
  environment: EnvironmentRow | null;
  dataDir: string;
  /** The console's address, when known (links in webhook payloads). */
  publicUrl: string | undefined;
  sink: LogSink;
  logger: Logger;
  /** Aborted when the job's lease is lost or the executor stops: commands are killed. */
  signal: AbortSignal;
  /** Options for tools/run. */
  run: RunOptions;
  /** The job's ssh connections, one per target, closed when the job ends. */
  connections: JobConnections;
  /** How ssh reaches the targets: the project's key and known_hosts, else Slipway's own (targetSsh). */
  ssh: SshSettings;
  /** E-mail channels: SLIPWAY_SMTP_URL and SLIPWAY_MAIL_FROM. */
  mail: { smtpUrl: string | undefined; from: string | undefined };
  /** The executor's key, to open what is stored sealed (the URLs and signing secrets of channels and webhooks). */
  secrets: SecretBox;
  /** The project's source credentials, opened (jobs that read the source: init and stage); null: none. */
  sourceAuth: SourceAuth | null;
  /** Fault injection for tests: the executor kills itself outright at this named step (SLIPWAY_FAULT_AT). */
  faultAt: string | undefined;
}

/** One kind of job: `perform` does the work and records the outcome; `fail` records a failure it could not. */
export interface JobHandler {
  perform(context: JobContext): Promise<void>;
  fail(context: JobContext, error: Error): Promise<void>;
}

/** The job was taken over by another executor (its lease ran out); this one must drop it. */
export class LeaseLost extends Error {
  constructor(jobId: number) {
    super(`job ${jobId} is no longer held by this executor`);
    this.name = 'LeaseLost';
  }
}

/** Minutes a job of each kind may run (deploys, rollbacks and repairs: the project's deployTimeoutMinutes). */
export const TIME_LIMIT_MINUTES: Record<JobRow['kind'], number | null> = {
  INIT_PROJECT: 60,
  STAGE: 30,
  DEPLOY: null,
  ROLLBACK: null,
  PREVIEW: 15,
  WEBHOOK: 2,
  VERIFY: 15,
  REPAIR: null,
  DEPLOY_AT: 2,
  TEST_TARGET: 2,
  REVERT: null,
  COMPARE: 5,
  PROMOTE: null,
};

/** The job ran past its time limit: its commands are killed and it fails, saying so. */
export class JobTimedOut extends EventFailure {
  constructor(kind: string, minutes: number) {
    const job = kind.toLowerCase().replace('_', ' ');
    super(
      minutes >= 1
        ? { key: 'TIME_LIMIT_MINUTES', params: { job, amount: String(minutes) } }
        : { key: 'TIME_LIMIT_SECONDS', params: { job, amount: String(Math.round(minutes * 60)) } },
    );
    this.name = 'JobTimedOut';
  }
}

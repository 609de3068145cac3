import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import {
  CHANNELS,
  claimJob,
  type Database,
  EventFailure,
  enqueueDueVerifications,
  ensureSshIdentity,
  environments,
  heartbeatJob,
  type JobLane,
  type JobRow,
  jobLogLines,
  loadSecretBox,
  projects,
  publishSshIdentity,
  type SecretBox,
  sourceCredentials,
  sshFiles,
  targets,
  tickets,
} from '@slipway/schema';
import { eq, max } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { ExecutorConfig } from './config.ts';
import { writeKnownHosts } from './host-keys.ts';
import { compare } from './jobs/compare.ts';
import { type JobContext, type JobHandler, JobTimedOut, LeaseLost, TIME_LIMIT_MINUTES } from './jobs/context.ts';
import { deploy, promote, repair, revert, rollback } from './jobs/deploy.ts';
import { deployAt } from './jobs/deploy-at.ts';
import { initProject } from './jobs/init-project.ts';
import { preview } from './jobs/preview.ts';
import { stage } from './jobs/stage.ts';
import { testTarget } from './jobs/test-target.ts';
import { verify } from './jobs/verify.ts';
import { deliverWebhook } from './jobs/webhook.ts';
import { LogSink } from './log-sink.ts';
import { indexUnlisted } from './staging-index.ts';
import { ControlDirectory, JobConnections, type SshSettings, sourceSshEnv } from './tools/ssh.ts';
import type { SourceAuth } from './tools/svn.ts';

/** Jobs that sign in to the project's source (when it has credentials). */
const READS_SOURCE = new Set<JobRow['kind']>(['INIT_PROJECT', 'STAGE']);

/** Jobs that reach targets (over ssh, for ssh targets): Slipway's known_hosts is brought up to date before them. */
const REACHES_TARGETS = new Set<JobRow['kind']>([
  'DEPLOY',
  'PROMOTE',
  'ROLLBACK',
  'REPAIR',
  'REVERT',
  'PREVIEW',
  'VERIFY',
  'TEST_TARGET',
]);

/**
 * How jobs reach a project's targets over ssh: the project's key and known_hosts when it names them, else Slipway's own
 * (`<data dir>/ssh/id_ed25519`, and `known_hosts` holding the host keys admins trusted).
 */
export function targetSsh(
  project: { sshKeyPath: string | null; knownHostsPath: string | null },
  dataDir: string,
): SshSettings {
  const own = sshFiles(dataDir);
  return { sshKeyPath: project.sshKeyPath ?? own.key, knownHostsPath: project.knownHostsPath ?? own.knownHosts };
}

const handlers: Record<JobRow['kind'], JobHandler> = {
  INIT_PROJECT: initProject,
  STAGE: stage,
  DEPLOY: deploy,
  ROLLBACK: rollback,
  PREVIEW: preview,
  WEBHOOK: deliverWebhook,
  VERIFY: verify,
  TEST_TARGET: testTarget,
  REVERT: revert,
  COMPARE: compare,
  REPAIR: repair,
  DEPLOY_AT: deployAt,
  PROMOTE: promote,
};

/**
 * The claim loop. The jobs table is the truth; NOTIFY only wakes the loop early. It also runs on every
 * (re)connect of the LISTEN connection and on a slow poll, so a missed notification or a dead executor's
 * job (lease run out) is picked up anyway.
 */
export class Worker {
  readonly id = `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
  private readonly running = new Map<number, AbortController>();
  /** Jobs running per lane: deliveries have slots of their own, so a dead receiver never holds up a deploy. */
  private readonly lanes: Record<JobLane, Set<number>> = { serial: new Set(), deliveries: new Set() };
  private control: ControlDirectory | null = null;
  private secrets: SecretBox | null = null;
  private filling = false;
  private refill = false;
  private stopping = false;
  private poll: NodeJS.Timeout | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly database: Database,
    private readonly config: ExecutorConfig,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.control = await ControlDirectory.create(this.config.sshControlDir);
    this.secrets = await loadSecretBox(this.config.dataDir, this.config.secretKey);
    // Slipway's own ssh key (made on first start) and the line admins install on targets.
    const identity = await ensureSshIdentity(this.config.dataDir);
    await publishSshIdentity(this.database.db, this.config.pool, identity);
    this.logger.info({ fingerprint: identity.fingerprint, pool: this.config.pool }, 'ssh key ready');
    // Staging copies made before Slipway listed them (for path suggestions) are listed once, in the background.
    indexUnlisted(this.database.db, this.config.pool)
      .then((listed) => listed > 0 && this.logger.info({ listed }, 'staging copies listed'))
      .catch((error) => this.logger.warn({ err: error }, 'could not list the staging copies'));
    const listening = await this.database.sql.listen(
      CHANNELS.jobQueued,
      (pool) => {
        if (pool === this.config.pool) this.wake();
      },
      () => {
        this.logger.info({ worker: this.id, pool: this.config.pool }, 'listening for jobs');
        this.wake();
      },
    );
    this.unlisten = () => listening.unlisten();
    if (this.stopping) return void (await this.unlisten().catch(() => {}));
    this.poll = setInterval(() => {
      this.schedule();
      this.wake();
    }, this.config.pollSeconds * 1000);
    this.schedule();
  }

  /** Stops taking jobs and aborts the running ones; their leases run out and another executor retries them. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.poll) clearInterval(this.poll);
    for (const controller of this.running.values()) controller.abort(new Error('the executor is stopping'));
    await this.idle;
    await this.unlisten?.().catch(() => {});
    await this.control?.remove();
  }

  /** Queues the verifications that are due (each project's verifyIntervalMinutes); a failure waits for the next poll. */
  private schedule(): void {
    if (this.stopping) return;
    enqueueDueVerifications(this.database.db, this.config.pool)
      .then((queued) => {
        if (queued > 0) this.logger.info({ queued }, 'scheduled verifications queued');
      })
      .catch((error) => this.logger.warn({ err: error }, 'could not queue scheduled verifications'));
  }

  /** The project's source credentials, opened with the executor's key. */
  private async sourceAuth(projectId: number): Promise<SourceAuth | null> {
    const [row] = await this.database.db
      .select()
      .from(sourceCredentials)
      .where(eq(sourceCredentials.projectId, projectId));
    if (!row) return null;
    return { username: row.username, secret: (this.secrets as SecretBox).open(row.secret) };
  }

  /** The environment a job works on: its ticket's, else the one its payload or its target names, else none. */
  private async environmentOf(job: JobRow, ticket: typeof tickets.$inferSelect | null) {
    const payload = job.payload as { environmentId?: number; targetId?: number };
    let id = ticket?.environmentId ?? payload.environmentId ?? null;
    if (id === null && payload.targetId) {
      const [target] = await this.database.db
        .select({ environmentId: targets.environmentId })
        .from(targets)
        .where(eq(targets.id, payload.targetId));
      id = target?.environmentId ?? null;
    }
    if (id === null) return null;
    const [row] = await this.database.db.select().from(environments).where(eq(environments.id, id));
    return row ?? null;
  }

  get runningJobs(): number {
    return this.running.size;
  }

  wake(): void {
    if (this.stopping) return;
    if (this.filling) {
      this.refill = true;
      return;
    }
    this.filling = true;
    void this.fill().finally(() => {
      this.filling = false;
      if (this.refill) {
        this.refill = false;
        this.wake();
      }
    });
  }

  private async fill(): Promise<void> {
    const slots: Record<JobLane, number> = {
      serial: this.config.concurrency,
      deliveries: this.config.deliveryConcurrency,
    };
    for (const lane of ['serial', 'deliveries'] as const) {
      while (!this.stopping && this.lanes[lane].size < slots[lane]) {
        let job: JobRow | null;
        try {
          job = await claimJob(this.database.db, this.id, this.config.pool, this.config.leaseSeconds, lane);
        } catch (error) {
          this.logger.warn({ err: error }, 'could not claim a job; will try again');
          return;
        }
        if (!job) break;
        this.launch(job, lane);
      }
    }
  }

  private launch(job: JobRow, lane: JobLane): void {
    const controller = new AbortController();
    // Every command of the job (one per target and step, many at once) listens to this signal.
    setMaxListeners(0, controller.signal);
    this.running.set(job.id, controller);
    this.lanes[lane].add(job.id);
    const done = this.execute(job, controller)
      .catch((error) => this.logger.error({ err: error, jobId: job.id }, 'job ended with an unexpected error'))
      .finally(() => {
        this.running.delete(job.id);
        this.lanes[lane].delete(job.id);
        this.wake();
      });
    this.idle = Promise.all([this.idle, done]).then(() => {});
  }

  private async execute(job: JobRow, controller: AbortController): Promise<void> {
    const { db } = this.database;
    const log = this.logger.child({ jobId: job.id, kind: job.kind, projectId: job.projectId, ticketId: job.ticketId });
    const heartbeat = setInterval(
      () => {
        heartbeatJob(db, job.id, this.id, this.config.leaseSeconds)
          .then((held) => {
            if (!held) controller.abort(new LeaseLost(job.id));
          })
          .catch((error) => log.warn({ err: error }, 'heartbeat failed'));
      },
      (this.config.leaseSeconds * 1000) / 3,
    );
    const [{ lastSeq } = { lastSeq: 0 }] = await db
      .select({ lastSeq: max(jobLogLines.seq) })
      .from(jobLogLines)
      .where(eq(jobLogLines.jobId, job.id));
    const sink = new LogSink(db, job.id, lastSeq ?? 0);
    let connections: JobConnections | null = null;
    let timeLimit: NodeJS.Timeout | null = null;
    try {
      const [project] = await db.select().from(projects).where(eq(projects.id, job.projectId));
      if (!project) throw new Error(`project ${job.projectId} does not exist`);
      const [ticket] = job.ticketId ? await db.select().from(tickets).where(eq(tickets.id, job.ticketId)) : [];
      const environment = await this.environmentOf(job, ticket ?? null);
      const ssh = targetSsh(project, this.config.dataDir);
      connections = new JobConnections((this.control as ControlDirectory).path, job.id, ssh);
      if (REACHES_TARGETS.has(job.kind) && !project.knownHostsPath)
        await writeKnownHosts(db, sshFiles(this.config.dataDir).knownHosts);
      const context: JobContext = {
        db,
        job,
        workerId: this.id,
        project,
        ticket: ticket ?? null,
        environment,
        dataDir: this.config.dataDir,
        publicUrl: this.config.publicUrl,
        sink,
        logger: log,
        signal: controller.signal,
        run: { sink, signal: controller.signal },
        connections,
        ssh,
        secrets: this.secrets as SecretBox,
        sourceAuth: null,
        mail: { smtpUrl: this.config.smtpUrl, from: this.config.mailFrom },
        faultAt: this.config.faultAt,
      };
      const handler = handlers[job.kind];
      const minutes = TIME_LIMIT_MINUTES[job.kind] ?? project.deployTimeoutMinutes;
      const limitMs = this.config.timeLimitSeconds ? this.config.timeLimitSeconds * 1000 : minutes * 60_000;
      timeLimit = setTimeout(() => controller.abort(new JobTimedOut(job.kind, limitMs / 60_000)), limitMs);
      log.info({ attempt: job.attempts }, 'job started');
      sink.system(`${job.kind} started on ${this.id} (attempt ${job.attempts})`);
      try {
        if (job.attempts > job.maxAttempts) {
          throw new Error(`given up after ${job.maxAttempts} attempts: the executors running it stopped each time`);
        }
        if (READS_SOURCE.has(job.kind)) {
          context.sourceAuth = await this.sourceAuth(project.id);
          if (context.sourceAuth) sink.keepSecret(context.sourceAuth.secret);
          const sourceSsh = sourceSshEnv(project.sourceUrl, project.sourceType, project);
          context.run = { ...context.run, env: { ...context.run.env, ...sourceSsh } };
        }
        await handler.perform(context);
        log.info('job finished');
      } catch (caught) {
        // Past its time limit, the job fails with that reason, whatever the killed command said.
        const timedOut = controller.signal.reason instanceof JobTimedOut ? controller.signal.reason : null;
        const error = timedOut ?? caught;
        if ((controller.signal.aborted && !timedOut) || error instanceof LeaseLost) {
          log.warn({ reason: String(controller.signal.reason ?? error) }, 'job dropped; another executor will take it');
          await sink.flush().catch(() => {});
          return;
        }
        // No secret reaches the job's error, its ticket's comment or the executor's own log either (the error keeps
        // its class: the handler tells a changed staging from a failed deploy by it).
        const failure = error as Error;
        failure.message = sink.redact(failure.message);
        if (failure instanceof EventFailure) failure.output = failure.output.map((line) => sink.redact(line));
        log.warn({ err: failure }, 'job failed');
        sink.system(`failed: ${failure.message}`);
        await handler.fail(context, failure);
      }
    } finally {
      clearInterval(heartbeat);
      if (timeLimit) clearTimeout(timeLimit);
      await connections?.close();
    }
  }
}

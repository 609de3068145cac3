import { and, eq, sql } from 'drizzle-orm';
import type { Db } from './db.ts';
import { jobs } from './tables/jobs.ts';
import type { JobKind } from './workflow.ts';

export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;
export type JobRow = typeof jobs.$inferSelect;

/**
 * NOTIFY channels. Payloads are ids only (NOTIFY payloads must stay under 8000 bytes); listeners read the rows.
 * Notifications are hints: the tables are the truth, and every listener catches up on (re)connect.
 */
export const CHANNELS = {
  /** payload: the pool that has a new job */
  jobQueued: 'slipway_job_queued',
  /** payload: `{jobId}` — the job's state changed */
  jobUpdated: 'slipway_job_updated',
  /** payload: `{jobId}:{lastSeq}` — log lines up to lastSeq are stored */
  jobLog: 'slipway_job_log',
  /** payload: `{projectId}:{jobId}` — a job of the project ended (succeeded or failed) */
  jobEnded: 'slipway_job_ended',
  /** payload: `{projectId}:{eventId}` — a ticket event was recorded */
  ticketEvent: 'slipway_ticket_event',
  /** payload: `{userId}` — a session, token, membership or the user changed (sent by triggers, migration 0005) */
  accessChanged: 'slipway_access_changed',
} as const;

export interface EnqueueInput {
  projectId: number;
  ticketId?: number | null;
  kind: JobKind;
  pool: string;
  payload?: Record<string, unknown>;
  /** Not before then (a scheduled deploy). */
  runAfter?: Date;
  /** Tries before the job is failed (default: deliveries 8, other jobs 5). */
  maxAttempts?: number;
}

/** Jobs that wait for no other job of their project, in the executors' deliveries lane. */
const UNORDERED = new Set<JobKind>(['WEBHOOK', 'DEPLOY_AT', 'TEST_TARGET', 'COMPARE']);

/** Inserts a job and wakes the executors of its pool when the surrounding transaction commits. */
export async function enqueueJob(tx: DbOrTx, input: EnqueueInput): Promise<JobRow> {
  const [job] = await tx
    .insert(jobs)
    .values({
      projectId: input.projectId,
      ticketId: input.ticketId ?? null,
      kind: input.kind,
      pool: input.pool,
      payload: input.payload ?? {},
      serial: !UNORDERED.has(input.kind),
      ...(input.runAfter ? { runAfter: input.runAfter } : {}),
      // Deliveries are retried with backoff (2 s, 4 s, … ~4 minutes in all); other jobs are re-run after a crash.
      maxAttempts:
        input.maxAttempts ??
        (input.kind === 'WEBHOOK' ? 8 : input.kind === 'TEST_TARGET' || input.kind === 'COMPARE' ? 1 : 5),
    })
    .returning();
  if (!job) throw new Error('enqueue returned no row');
  await tx.execute(
    sql`select pg_notify(${CHANNELS.jobQueued}, ${input.pool}), pg_notify(${CHANNELS.jobUpdated}, ${String(job.id)})`,
  );
  return job;
}

/**
 * The two lanes an executor claims from, each with its own slots: a ticket's serial work (init, stage, deploy,
 * rollback, preview) never waits behind deliveries to a slow receiver, nor the other way round.
 */
export type JobLane = 'serial' | 'deliveries';

/**
 * Claims the next job of a pool and lane in one statement: the oldest job of a project whose earlier serial jobs are
 * all done (so at most one serial job runs per project, in order; deliveries wait for nothing), either queued or
 * running on a lease that has run out (its executor died). SKIP LOCKED lets executors claim side by side.
 */
export async function claimJob(
  db: Db,
  workerId: string,
  pool: string,
  leaseSeconds: number,
  lane: JobLane = 'serial',
): Promise<JobRow | null> {
  const rows = await db.execute<Record<string, unknown>>(sql`
    with candidate as (
      select j.id from jobs j
      where j.pool = ${pool}
        and j.serial = ${lane === 'serial'}
        and j.run_after <= now()
        and (j.state = 'QUEUED' or (j.state = 'RUNNING' and j.lease_until < now()))
        and (not j.serial or not exists (
          select 1 from jobs earlier
          where earlier.project_id = j.project_id and earlier.serial and earlier.id < j.id
            and earlier.state in ('QUEUED', 'RUNNING')
        ))
      order by j.id
      limit 1
      for update skip locked
    )
    update jobs set
      state = 'RUNNING',
      locked_by = ${workerId},
      lease_until = now() + make_interval(secs => ${leaseSeconds}),
      attempts = jobs.attempts + 1,
      started_at = coalesce(jobs.started_at, now())
    from candidate
    where jobs.id = candidate.id
    returning jobs.id`);
  const id = rows[0]?.id;
  if (id === undefined) return null;
  await db.execute(sql`select pg_notify(${CHANNELS.jobUpdated}, ${String(id)})`);
  const [job] = await db
    .select()
    .from(jobs)
    .where(eq(jobs.id, Number(id)));
  return job ?? null;
}

/** Extends the lease; false when the job is no longer this worker's (it must stop working on it). */
export async function heartbeatJob(db: Db, jobId: number, workerId: string, leaseSeconds: number): Promise<boolean> {
  const rows = await db
    .update(jobs)
    .set({ leaseUntil: sql`now() + make_interval(secs => ${leaseSeconds})` })
    .where(and(eq(jobs.id, jobId), eq(jobs.lockedBy, workerId), eq(jobs.state, 'RUNNING')))
    .returning({ id: jobs.id });
  return rows.length > 0;
}

/**
 * Ends a job (inside the transaction that records its outcome). False when the job was no longer this worker's,
 * in which case the transaction must be rolled back.
 */
export async function finishJob(
  tx: DbOrTx,
  jobId: number,
  workerId: string,
  outcome: { state: 'SUCCEEDED' | 'FAILED'; error?: string | null },
): Promise<boolean> {
  const rows = await tx
    .update(jobs)
    .set({ state: outcome.state, lastError: outcome.error ?? null, finishedAt: sql`now()`, leaseUntil: null })
    .where(and(eq(jobs.id, jobId), eq(jobs.lockedBy, workerId), eq(jobs.state, 'RUNNING')))
    .returning({ id: jobs.id, pool: jobs.pool, projectId: jobs.projectId });
  const [row] = rows;
  if (!row) return false;
  // The project's next job, if any, can run now: wake the pool's executors; pages showing the project look again.
  await tx.execute(
    sql`select pg_notify(${CHANNELS.jobUpdated}, ${String(jobId)}), pg_notify(${CHANNELS.jobQueued}, ${row.pool}),
      pg_notify(${CHANNELS.jobEnded}, ${`${row.projectId}:${jobId}`})`,
  );
  return true;
}

/** Puts a failed job back in the queue to run again after `delaySeconds` (a retry with backoff). */
export async function retryJobLater(
  tx: DbOrTx,
  jobId: number,
  workerId: string,
  delaySeconds: number,
  error: string,
): Promise<boolean> {
  const rows = await tx
    .update(jobs)
    .set({
      state: 'QUEUED',
      lockedBy: null,
      leaseUntil: null,
      lastError: error,
      runAfter: sql`now() + make_interval(secs => ${delaySeconds})`,
    })
    .where(and(eq(jobs.id, jobId), eq(jobs.lockedBy, workerId), eq(jobs.state, 'RUNNING')))
    .returning({ id: jobs.id });
  return rows.length > 0;
}

/** Serialises the executors' scheduling of verifications (an advisory lock key of its own). */
const VERIFY_SCHEDULE_LOCK = 7_405_112;

/**
 * Queues a scheduled VERIFY job for every project of the pool that is due: verification on (verifyIntervalMinutes
 * > 0), a target Slipway has deployed to, and no verification, deploy, rollback or repair of the project queued,
 * running or started within the interval (a deploy has just written the targets). The schedule lives in the jobs
 * table, so it holds across restarts; executors take turns (an advisory lock), so a project is never queued twice.
 * Answers how many were queued.
 */
export async function enqueueDueVerifications(db: Db, pool: string): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${VERIFY_SCHEDULE_LOCK})`);
    const rows = await tx.execute<{ id: number }>(sql`
      insert into jobs (project_id, kind, pool, serial, payload, max_attempts)
      select p.id, 'VERIFY', p.pool, true, '{"scheduled": true}'::jsonb, 2
      from projects p
      where p.pool = ${pool} and p.ready and p.archived_at is null and p.verify_interval_minutes > 0
        and exists (select 1 from targets t where t.project_id = p.id and t.release_id is not null)
        and not exists (
          select 1 from jobs j
          where j.project_id = p.id and j.kind in ('VERIFY', 'DEPLOY', 'ROLLBACK', 'REPAIR')
            and (j.state in ('QUEUED', 'RUNNING')
              or j.created_at > now() - make_interval(mins => p.verify_interval_minutes))
        )
      returning id`);
    if (rows.length > 0) await tx.execute(sql`select pg_notify(${CHANNELS.jobQueued}, ${pool})`);
    return rows.length;
  });
}

import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { projects, targets } from './projects.ts';
import { tickets } from './tickets.ts';

export const jobKind = pgEnum('job_kind', [
  'INIT_PROJECT',
  'STAGE',
  'DEPLOY',
  'ROLLBACK',
  'PREVIEW',
  'WEBHOOK',
  'VERIFY',
  'REPAIR',
  'DEPLOY_AT',
  'TEST_TARGET',
  'REVERT',
  'COMPARE',
  'PROMOTE',
]);
export const jobState = pgEnum('job_state', ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED']);
export const logStream = pgEnum('log_stream', ['STDOUT', 'STDERR', 'SYSTEM']);
export const targetOutcome = pgEnum('target_outcome', ['OK', 'FAILED', 'SKIPPED']);
/** How a target got a release: only the files changed since its version, or all of them. */
export const transferKind = pgEnum('transfer_kind', ['INCREMENTAL', 'FULL']);

/** A host key a target showed (TEST_TARGET), against what Slipway's (or the project's) known_hosts holds. */
export interface HostKeyCheck {
  /** ED25519, ECDSA, RSA. */
  type: string;
  fingerprint: string;
  known: boolean;
  /** The fingerprint known before, when the host now shows another key (it changed). */
  changedFrom: string | null;
}

/** What a TEST_TARGET job found (its `result`); null for a check not made because an earlier one failed. */
export interface TargetCheck {
  targetId: number;
  /** Where the target was checked (trustHostKey trusts a key only for the host and port it was shown at). */
  host?: string | null;
  port?: number | null;
  reachable: boolean | null;
  hostKey?: HostKeyCheck | null;
  /** Every host key the target showed: `{ keyType, key, fingerprint }` (what trustHostKey may trust). */
  hostKeys?: { keyType: string; key: string; fingerprint: string }[];
  hostKeyKnown: boolean | null;
  signedIn: boolean | null;
  rsyncPresent: boolean | null;
  pathWritable: boolean | null;
  ok: boolean;
  problem: string | null;
}

export const jobs = pgTable(
  'jobs',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    projectId: bigint('project_id', { mode: 'number' })
      .notNull()
      .references(() => projects.id),
    ticketId: bigint('ticket_id', { mode: 'number' }).references(() => tickets.id),
    kind: jobKind('kind').notNull(),
    state: jobState('state').notNull().default('QUEUED'),
    pool: text('pool').notNull().default('default'),
    /** Serial jobs of a project run one at a time, in order (they share its staging copy and ledger); others do not wait. */
    serial: boolean('serial').notNull().default(true),
    payload: jsonb('payload').notNull().default(sql`'{}'::jsonb`),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(5),
    runAfter: timestamp('run_after', { withTimezone: true }).notNull().defaultNow(),
    lockedBy: text('locked_by'),
    /** The lease: a running job whose lease has passed is taken again by another executor. */
    leaseUntil: timestamp('lease_until', { withTimezone: true }),
    lastError: text('last_error'),
    /** What a job found, for the kinds that answer something (TEST_TARGET: the target check). */
    result: jsonb('result'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    index('jobs_claimable_idx').on(t.pool, t.runAfter, t.id).where(sql`${t.state} in ('QUEUED', 'RUNNING')`),
    index('jobs_project_idx').on(t.projectId, t.id),
    index('jobs_ticket_idx').on(t.ticketId),
  ],
);

export const jobLogLines = pgTable(
  'job_log_lines',
  {
    jobId: bigint('job_id', { mode: 'number' })
      .notNull()
      .references(() => jobs.id),
    seq: integer('seq').notNull(),
    stream: logStream('stream').notNull(),
    text: text('text').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.seq] })],
);

export const deployResults = pgTable(
  'deploy_results',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    jobId: bigint('job_id', { mode: 'number' })
      .notNull()
      .references(() => jobs.id),
    ticketId: bigint('ticket_id', { mode: 'number' })
      .notNull()
      .references(() => tickets.id),
    /** Kept when the target is removed later, so the history still names it. */
    targetId: bigint('target_id', { mode: 'number' }).references(() => targets.id, { onDelete: 'set null' }),
    targetName: text('target_name').notNull(),
    outcome: targetOutcome('outcome').notNull(),
    bytesSent: bigint('bytes_sent', { mode: 'number' }).notNull().default(0),
    filesChanged: integer('files_changed').notNull().default(0),
    durationMs: integer('duration_ms').notNull().default(0),
    error: text('error'),
    /** Null when nothing was transferred (a switch to a release the target held, a skip, a failure). */
    transfer: transferKind('transfer'),
    /** What changed on the target: `{ path, change }`, the first 1,000 of `changesCount`. */
    changes: jsonb('changes'),
    changesCount: integer('changes_count'),
    finishedAt: timestamp('finished_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('deploy_results_job_target_idx').on(t.jobId, t.targetName)],
);

/** previewDeploy: what rsync would change on each target (`--dry-run --itemize-changes`), as data. */
export const deployPreviews = pgTable(
  'deploy_previews',
  {
    jobId: bigint('job_id', { mode: 'number' })
      .notNull()
      .references(() => jobs.id),
    targetName: text('target_name').notNull(),
    /**
     * What the deploy would change: `{ path, change, unknown }` with change one of ADDED, MODIFIED, DELETED; `unknown`:
     * a deletion of a file no release put there. A check for unknown files (payload `check`) keeps only those, the first
     * 1,000.
     */
    items: jsonb('items').notNull(),
    /** How many unknown files the deploy would delete there (the count is whole). */
    unknownCount: integer('unknown_count').notNull().default(0),
    /** How the deploy would reach the target. */
    transfer: transferKind('transfer'),
    error: text('error'),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.targetName] })],
);

export const verificationState = pgEnum('verification_state', ['IN_SYNC', 'DRIFTED', 'UNREACHABLE', 'UNKNOWN']);

/**
 * What the last verification found on each target: whether it holds exactly the release Slipway recorded for it
 * (contents by checksum, modes, links, deletions and additions; atomic: at `current`, and where `current` points).
 */
export const targetVerifications = pgTable('target_verifications', {
  targetId: bigint('target_id', { mode: 'number' })
    .primaryKey()
    .references(() => targets.id, { onDelete: 'cascade' }),
  jobId: bigint('job_id', { mode: 'number' }).references(() => jobs.id),
  state: verificationState('state').notNull(),
  /** The release the target was checked against (its recorded version). */
  releaseId: bigint('release_id', { mode: 'number' }),
  /** Atomic targets: the release `current` points at (null when it is not a release, or missing). */
  currentRelease: text('current_release'),
  /** `{ path, change, diff }`, the first 1,000 of `driftedCount`; `diff` for modified text files up to 256 KiB. */
  drifted: jsonb('drifted').notNull().default(sql`'[]'::jsonb`),
  driftedCount: integer('drifted_count').notNull().default(0),
  /** Why the target could not be checked (UNREACHABLE) or was not (UNKNOWN). */
  error: text('error'),
  checkedAt: timestamp('checked_at', { withTimezone: true }).notNull().defaultNow(),
});

import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import type { EventMessage } from '../event-messages.ts';
import { environments, projects } from './projects.ts';
import { users } from './users.ts';

export const ticketKind = pgEnum('ticket_kind', ['RELEASE', 'ROLLBACK', 'REPAIR', 'PROMOTION', 'REVERT']);
export const ticketState = pgEnum('ticket_state', [
  'PENDING_STAGING',
  'AWAITING_TEST',
  'AWAITING_APPROVAL',
  'APPROVED',
  'DEPLOYING',
  'DEPLOYED',
  'STAGING_FAILED',
  'RETURNED',
  'REJECTED',
  'DEPLOY_FAILED',
  'CANCELLED',
]);

export const tickets = pgTable(
  'tickets',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    projectId: bigint('project_id', { mode: 'number' })
      .notNull()
      .references(() => projects.id),
    kind: ticketKind('kind').notNull(),
    state: ticketState('state').notNull(),
    reason: text('reason').notNull(),
    paths: text('paths').array().notNull().default(sql`'{}'::text[]`),
    authorId: bigint('author_id', { mode: 'number' })
      .notNull()
      .references(() => users.id),
    /** The environment the ticket deploys to: a release's is the first one; a promotion's, the one it promotes to. */
    environmentId: bigint('environment_id', { mode: 'number' })
      .notNull()
      .references((): AnyPgColumn => environments.id),
    /** The version this ticket produced (release), rolls back to (rollback), restores (repair) or promotes. */
    releaseId: bigint('release_id', { mode: 'number' }).references((): AnyPgColumn => releases.id),
    /** The version the deploy took off its environment (set when it is DEPLOYED): what a rollback rolled back. */
    replacedReleaseId: bigint('replaced_release_id', { mode: 'number' }).references((): AnyPgColumn => releases.id),
    /** A revert: the release ticket whose change it undoes (its paths put back as they were before its release). */
    revertsTicketId: bigint('reverts_ticket_id', { mode: 'number' }).references((): AnyPgColumn => tickets.id),
    /** A repair: the targets it brings back to the release (drifted ones); null for other kinds. */
    repairTargetIds: bigint('repair_target_ids', { mode: 'number' }).array(),
    stagedRevision: text('staged_revision'),
    /** Content fingerprint of the ticket's paths in staging, taken when staging completed. */
    stagedFingerprint: text('staged_fingerprint'),
    /** A deploy scheduled for this time (scheduleDeploy): a DEPLOY_AT job starts it then, as the one who scheduled it. */
    scheduledAt: timestamp('scheduled_at', { withTimezone: true }),
    scheduledById: bigint('scheduled_by_id', { mode: 'number' }).references(() => users.id),
    /** An admin let this ticket deploy once through a freeze (the reason is in the audit trail). */
    freezeOverride: boolean('freeze_override').notNull().default(false),
    /** Content fingerprint of the ticket's paths taken at "pass test". */
    testedFingerprint: text('tested_fingerprint'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('tickets_project_id_idx').on(t.projectId, t.id),
    index('tickets_project_state_idx').on(t.projectId, t.state),
  ],
);

/** The audit trail: append-only, enforced by a trigger in the migrations. */
export const ticketEvents = pgTable(
  'ticket_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    ticketId: bigint('ticket_id', { mode: 'number' })
      .notNull()
      .references(() => tickets.id),
    projectId: bigint('project_id', { mode: 'number' })
      .notNull()
      .references(() => projects.id),
    action: text('action').notNull(),
    fromState: ticketState('from_state'),
    toState: ticketState('to_state').notNull(),
    /** Null for transitions made by the executor. */
    actorId: bigint('actor_id', { mode: 'number' }).references(() => users.id),
    comment: text('comment'),
    /** What an executor's event says, as a message key and its values (see event-messages.ts); `comment` says it in English. */
    message: jsonb('message').$type<EventMessage>(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('ticket_events_ticket_idx').on(t.ticketId, t.id),
    index('ticket_events_project_idx').on(t.projectId, t.id),
  ],
);

export const approvals = pgTable(
  'approvals',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    ticketId: bigint('ticket_id', { mode: 'number' })
      .notNull()
      .references(() => tickets.id),
    approverId: bigint('approver_id', { mode: 'number' })
      .notNull()
      .references(() => users.id),
    comment: text('comment'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('approvals_ticket_approver_idx').on(t.ticketId, t.approverId)],
);

/** A released version: ledger tag `v{number}`; number 0 is the baseline taken when the project is created. */
export const releases = pgTable(
  'releases',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    projectId: bigint('project_id', { mode: 'number' })
      .notNull()
      .references(() => projects.id),
    number: integer('number').notNull(),
    ticketId: bigint('ticket_id', { mode: 'number' }).references((): AnyPgColumn => tickets.id),
    commit: text('commit').notNull(),
    /** Set when a rollback took this version off the targets: it is shown as bad. */
    rolledBackAt: timestamp('rolled_back_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('releases_project_number_idx').on(t.projectId, t.number)],
);

export const changeKind = pgEnum('change_kind', ['ADDED', 'MODIFIED', 'DELETED']);

/** What a ticket changes against the live version, computed when staging completes (for review). */
export const ticketChanges = pgTable(
  'ticket_changes',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    ticketId: bigint('ticket_id', { mode: 'number' })
      .notNull()
      .references(() => tickets.id),
    path: text('path').notNull(),
    change: changeKind('change').notNull(),
    binary: boolean('binary').notNull().default(false),
    /** Unified diff of a text file; null for binary files and diffs over the size cap. */
    diff: text('diff'),
    truncated: boolean('truncated').notNull().default(false),
  },
  (t) => [index('ticket_changes_ticket_idx').on(t.ticketId, t.path)],
);

/**
 * One row, ticked inside every transaction that changes a ticket or a user, at its commit (a deferred trigger, see
 * migration 0008). A reader that saw clock N and a ticket page read at clock N see the same tickets: a server may
 * answer a page again from memory for as long as the clock it reads with each request stays at N, on any replica.
 */
export const readClock = pgTable(
  'read_clock',
  {
    id: integer('id').primaryKey().default(1),
    tickets: bigint('tickets', { mode: 'number' }).notNull().default(0),
  },
  (t) => [check('read_clock_single_row', sql`${t.id} = 1`)],
);

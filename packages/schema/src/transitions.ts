import { and, count, eq, sql } from 'drizzle-orm';
import { checkPromotion } from './environments.ts';
import { SlipwayError } from './errors.ts';
import { type EventMessage, eventSentence } from './event-messages.ts';
import { activeFreeze, notificationOf, notifyChannels, notifyWebhooks, type ProjectRow } from './notify.ts';
import { CHANNELS, type DbOrTx, enqueueJob } from './queue.ts';
import { jobs } from './tables/jobs.ts';
import { environments, targets } from './tables/projects.ts';
import { releases, ticketEvents, tickets } from './tables/tickets.ts';
import {
  InvalidTransition,
  type JobKind,
  type SystemAction,
  type TicketAction,
  type TicketState,
  type Transition,
} from './workflow.ts';

export type TicketRow = typeof tickets.$inferSelect;

/** Transitions, and events that leave the state as it is (an approval short of the count, a freeze override). */
export type EventAction =
  | TicketAction
  | SystemAction
  | 'OVERRIDE_FREEZE'
  | 'SCHEDULE_DEPLOY'
  | 'UNSCHEDULE_DEPLOY'
  | 'SCHEDULED_DEPLOY_FAILED';

export interface TransitionInput {
  ticketId: number;
  projectId: number;
  action: EventAction;
  from: TicketState;
  to: TicketState;
  /** Null for the executor. */
  actorId: number | null;
  comment?: string | null;
  /** The executor's events: what they say as a key and values (see EventMessage); the comment then says it in English. */
  message?: EventMessage | null;
  /** Other ticket columns changed together with the state. */
  set?: Partial<
    Pick<
      TicketRow,
      | 'stagedRevision'
      | 'stagedFingerprint'
      | 'testedFingerprint'
      | 'releaseId'
      | 'reason'
      | 'paths'
      | 'scheduledAt'
      | 'scheduledById'
      | 'freezeOverride'
      | 'replacedReleaseId'
    >
  >;
}

/**
 * Rule 1: one conditional UPDATE (`… where state = from`) plus its audit event, inside the caller's transaction.
 * When the ticket is no longer in `from`, nothing is written and INVALID_TRANSITION is thrown.
 */
export async function recordTransition(tx: DbOrTx, input: TransitionInput): Promise<TicketRow> {
  const [ticket] = await tx
    .update(tickets)
    .set({ ...input.set, state: input.to, updatedAt: sql`now()` })
    .where(and(eq(tickets.id, input.ticketId), eq(tickets.state, input.from)))
    .returning();
  if (!ticket) throw new InvalidTransition(input.action as TicketAction, input.from);
  await recordEvent(tx, { ...input, from: input.from });
  return ticket;
}

/** The job a deploy transition (DEPLOY, RETRY_DEPLOY) starts, as the workflow table says. */
export function deployJob(transition: Transition): JobKind {
  if (!transition.enqueues) throw new Error(`the workflow's ${transition.action} starts no job`);
  return transition.enqueues;
}

export interface DeployStart extends Omit<TransitionInput, 'set' | 'comment' | 'message'> {
  /** The ticket and its project as the caller's transaction locked them. */
  ticket: TicketRow;
  project: ProjectRow;
  /** The job the workflow's transition enqueues: DEPLOY for a release, ROLLBACK or REPAIR for those tickets. */
  kind: JobKind;
  /** What the job is told (e.g. `{ fullSync: true }`). */
  payload?: Record<string, unknown>;
  /** The event's comment or message; `throughFreeze` when an admin's override lets this deploy through a freeze. */
  say: (throughFreeze: boolean) => Pick<TransitionInput, 'comment' | 'message'>;
}

/**
 * A deploy starting (of a release, a promotion, a rollback or a repair) — a person's DEPLOY or RETRY_DEPLOY, or a
 * schedule coming due — after the workflow has allowed it: refused when the ticket's environment has no targets,
 * while deploys are frozen (the project, or that environment) unless the ticket holds an admin's override (which this
 * uses up), and for a promotion, unless the release may go there now (NOT_PROMOTABLE, BAKING). The transition, with any
 * schedule cleared (and its queued DEPLOY_AT job gone), and its job, inside the caller's transaction.
 */
export async function startDeploy(tx: DbOrTx, input: DeployStart): Promise<TicketRow> {
  const { ticket, project, kind, payload, say, ...transition } = input;
  const [environment] = await tx.select().from(environments).where(eq(environments.id, ticket.environmentId));
  if (!environment) throw new Error(`ticket ${ticket.id} has no environment`);
  const [{ n } = { n: 0 }] = await tx
    .select({ n: count() })
    .from(targets)
    .where(eq(targets.environmentId, environment.id));
  if (n === 0)
    throw new SlipwayError('INVALID_TRANSITION', `the ${environment.name} environment has no targets to deploy to`, {
      reason: 'NO_TARGETS',
      environment: environment.name,
    });
  if (ticket.kind === 'PROMOTION') {
    const [release] = await tx
      .select()
      .from(releases)
      .where(eq(releases.id, ticket.releaseId ?? 0));
    if (!release) throw new Error(`promotion ${ticket.id} has no release`);
    await checkPromotion(tx, release, environment, new Date());
  }
  const freeze = activeFreeze(project, environment);
  if (freeze && !ticket.freezeOverride) {
    throw new SlipwayError(
      'FROZEN',
      `deploys are frozen${freeze.until ? ` until ${freeze.until.toISOString()}` : ''}: ${freeze.reason}`,
      { reason: freeze.reason, until: freeze.until?.toISOString() ?? null },
    );
  }
  const scheduled = ticket.scheduledAt !== null;
  const started = await recordTransition(tx, {
    ...transition,
    ...say(freeze !== null),
    set: {
      // Deployed now: a schedule has nothing left to start.
      ...(scheduled ? { scheduledAt: null, scheduledById: null } : {}),
      // An override lets one deploy through.
      ...(freeze ? { freezeOverride: false } : {}),
    },
  });
  if (scheduled)
    await tx
      .delete(jobs)
      .where(and(eq(jobs.ticketId, ticket.id), eq(jobs.kind, 'DEPLOY_AT'), eq(jobs.state, 'QUEUED')));
  await enqueueJob(tx, { projectId: project.id, ticketId: ticket.id, kind, pool: project.pool, payload });
  return started;
}

/** Appends an audit event (also used where the state stays, e.g. an approval short of the required count). */
export async function recordEvent(
  tx: DbOrTx,
  input: Pick<TransitionInput, 'ticketId' | 'projectId' | 'action' | 'to' | 'actorId' | 'comment' | 'message'> & {
    from: TicketState | null;
  },
): Promise<void> {
  const [event] = await tx
    .insert(ticketEvents)
    .values({
      ticketId: input.ticketId,
      projectId: input.projectId,
      action: input.action,
      fromState: input.from,
      toState: input.to,
      actorId: input.actorId,
      comment: input.comment ?? (input.message ? eventSentence('EN', input.message) : null),
      message: input.message ?? null,
    })
    .returning({ id: ticketEvents.id });
  await tx.execute(sql`select pg_notify(${CHANNELS.ticketEvent}, ${`${input.projectId}:${event?.id}`})`);
  // Deliveries are jobs of their own: a slow or dead receiver never holds up a transition. What no
  // NotificationEvent names (an approval short of the count, a schedule set) is the audit's alone.
  const notification = notificationOf(input.action, input.to);
  if (notification && event) {
    await notifyWebhooks(tx, input.projectId, notification, { eventId: event.id }, input.ticketId);
    await notifyChannels(tx, input.projectId, notification, { eventId: event.id }, input.ticketId);
  }
}

import { and, eq, sql } from 'drizzle-orm';
import { type EventMessage, eventSentence } from './event-messages.ts';
import { notificationOf, notifyChannels, notifyWebhooks } from './notify.ts';
import { CHANNELS, type DbOrTx } from './queue.ts';
import { ticketEvents, tickets } from './tables/tickets.ts';
import { InvalidTransition, type SystemAction, type TicketAction, type TicketState } from './workflow.ts';

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
  // Deliveries are jobs of their own: a slow or dead receiver never holds up a transition.
  await notifyWebhooks(tx, input.projectId, { eventId: event?.id }, input.ticketId);
  const notification = notificationOf(input.action, input.to);
  if (notification && event)
    await notifyChannels(tx, input.projectId, notification, { eventId: event.id }, input.ticketId);
}

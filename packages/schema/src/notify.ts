import { and, arrayContains, eq } from 'drizzle-orm';
import { type DbOrTx, enqueueJob } from './queue.ts';
import { deliveries, notificationChannels, type notificationEvent, projects, webhooks } from './tables/projects.ts';

export type ProjectRow = typeof projects.$inferSelect;

export interface Freeze {
  reason: string;
  until: Date | null;
  byId: number | null;
}

type Freezable = Pick<ProjectRow, 'frozenReason' | 'frozenUntil' | 'frozenById'>;

/**
 * The freeze in force, when one is set and has not ended (the server refuses deploys by it, and so do schedules): the
 * project's (it freezes every environment), else the environment's own.
 */
export function activeFreeze(project: Freezable, environment?: Freezable | null, now = new Date()): Freeze | null {
  for (const holder of [project, environment]) {
    if (!holder?.frozenReason) continue;
    if (holder.frozenUntil && holder.frozenUntil <= now) continue;
    return { reason: holder.frozenReason, until: holder.frozenUntil, byId: holder.frozenById };
  }
  return null;
}

/**
 * Queues one delivery per webhook of the project (inside the caller's transaction): a slow or dead receiver never
 * holds up what happened. `about` names it: a ticket event (`eventId`) or a drift. Each is a delivery row (its
 * history) and a WEBHOOK job that sends it.
 */
export async function notifyWebhooks(
  tx: DbOrTx,
  projectId: number,
  event: NotificationEvent,
  about: Record<string, unknown>,
  ticketId: number | null = null,
): Promise<void> {
  const hooks = await tx
    .select({ id: webhooks.id, pool: projects.pool })
    .from(webhooks)
    .innerJoin(projects, eq(projects.id, webhooks.projectId))
    .where(eq(webhooks.projectId, projectId));
  for (const hook of hooks)
    await queueDelivery(tx, { projectId, ticketId, event, about, webhookId: hook.id }, hook.pool);
}

/** A delivery row and the job that sends it (retried with backoff; `redeliver` queues another). */
export async function queueDelivery(
  tx: DbOrTx,
  delivery: Pick<
    typeof deliveries.$inferInsert,
    'projectId' | 'ticketId' | 'event' | 'about' | 'channelId' | 'webhookId'
  >,
  pool: string,
): Promise<number> {
  const [row] = await tx.insert(deliveries).values(delivery).returning({ id: deliveries.id });
  if (!row) throw new Error('insert returned no row');
  await enqueueJob(tx, {
    projectId: delivery.projectId,
    ticketId: delivery.ticketId ?? null,
    kind: 'WEBHOOK',
    pool,
    payload: { deliveryId: row.id },
  });
  return row.id;
}

export type NotificationEvent = (typeof notificationEvent.enumValues)[number];

/** What a channel hears of a ticket event (null: nothing, e.g. an approval short of the count). */
export function notificationOf(action: string, to: string): NotificationEvent | null {
  switch (action) {
    case 'SUBMIT':
    case 'RESUBMIT':
      return 'SUBMITTED';
    // A revert is heard of once it is prepared (what it changes is known), not when asked for.
    case 'PREPARED':
      return 'REVERT_REQUESTED';
    case 'STAGED':
      return 'STAGED';
    case 'STAGING_FAILED':
      return 'STAGING_FAILED';
    case 'RETURN':
    case 'STAGING_CHANGED':
      return 'RETURNED';
    case 'PASS_TEST':
      return 'TEST_PASSED';
    case 'APPROVE':
      return to === 'APPROVED' ? 'APPROVED' : null;
    case 'REJECT':
      return 'REJECTED';
    case 'DEPLOY':
    case 'RETRY_DEPLOY':
      return 'DEPLOYING';
    case 'DEPLOYED':
      return 'DEPLOYED';
    case 'DEPLOY_FAILED':
    case 'SCHEDULED_DEPLOY_FAILED':
      return 'DEPLOY_FAILED';
    case 'REQUEST_ROLLBACK':
      return 'ROLLBACK_REQUESTED';
    case 'REQUEST_PROMOTION':
      return 'PROMOTION_REQUESTED';
    case 'REQUEST_REPAIR':
      return 'REPAIR_REQUESTED';
    case 'CANCEL':
      return 'CANCELLED';
    default:
      return null;
  }
}

/**
 * Queues one delivery per channel of the project that wants `event` (inside the caller's transaction, so nothing is
 * sent for a change that did not commit). `about` says what happened: a ticket event, a drift, a freeze.
 */
export async function notifyChannels(
  tx: DbOrTx,
  projectId: number,
  event: NotificationEvent,
  about: Record<string, unknown>,
  ticketId: number | null = null,
): Promise<void> {
  const channels = await tx
    .select({ id: notificationChannels.id, pool: projects.pool })
    .from(notificationChannels)
    .innerJoin(projects, eq(projects.id, notificationChannels.projectId))
    .where(and(eq(notificationChannels.projectId, projectId), arrayContains(notificationChannels.events, [event])));
  for (const channel of channels)
    await queueDelivery(tx, { projectId, ticketId, event, about, channelId: channel.id }, channel.pool);
}

import { and, arrayContains, eq } from 'drizzle-orm';
import { type DbOrTx, enqueueJob } from './queue.ts';
import { notificationChannels, type notificationEvent, projects } from './tables/projects.ts';

export type NotificationEvent = (typeof notificationEvent.enumValues)[number];

/** What a channel hears of a ticket event (null: nothing, e.g. an approval short of the count). */
export function notificationOf(action: string, to: string): NotificationEvent | null {
  switch (action) {
    case 'SUBMIT':
    case 'RESUBMIT':
      return 'SUBMITTED';
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
  for (const channel of channels) {
    await enqueueJob(tx, {
      projectId,
      ticketId,
      kind: 'WEBHOOK',
      pool: channel.pool,
      payload: { channelId: channel.id, event, ...about },
    });
  }
}

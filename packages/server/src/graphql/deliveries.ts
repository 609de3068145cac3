import { deliveries, deliveryStatus, enqueueJob, intRange, NotFound, parseInput, projects } from '@slipway/schema';
import { desc, eq, sql } from 'drizzle-orm';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { parseId } from './ids.ts';
import { ChannelRef, leadOf, NotificationEventEnum } from './notifications.ts';
import { WebhookRef } from './webhooks.ts';

type DeliveryRow = typeof deliveries.$inferSelect;

const DeliveryStatusEnum = builder.enumType('DeliveryStatus', { values: deliveryStatus.enumValues });

const DeliveryTryRef = builder
  .objectRef<{ at: string; responseStatus: number | null; error: string | null; durationMs: number }>('DeliveryTry')
  .implement({
    description: 'One try at a delivery',
    fields: (t) => ({
      at: t.field({ type: 'DateTime', resolve: (a) => new Date(a.at) }),
      responseStatus: t.exposeInt('responseStatus', { nullable: true }),
      error: t.exposeString('error', { nullable: true }),
      durationMs: t.exposeInt('durationMs'),
    }),
  });

export const DeliveryRef = builder.objectRef<DeliveryRow>('Delivery').implement({
  description:
    'One message to one channel or webhook about one event; its id is the X-Slipway-Delivery header and the body’s deliveryId (the same on every retry and redelivery)',
  fields: (t) => ({
    id: t.exposeID('id'),
    event: t.expose('event', { type: NotificationEventEnum }),
    at: t.expose('createdAt', { type: 'DateTime', description: 'When the event happened (the delivery was made)' }),
    attempts: t.exposeInt('attempts'),
    status: t.expose('status', { type: DeliveryStatusEnum }),
    responseStatus: t.exposeInt('responseStatus', {
      nullable: true,
      description: 'The HTTP status of the receiver’s last answer',
    }),
    responseBody: t.exposeString('responseBody', {
      nullable: true,
      description: 'The first KiB of the receiver’s last answer',
    }),
    error: t.exposeString('error', { nullable: true, description: 'Why the last try failed' }),
    tries: t.field({ type: [DeliveryTryRef], description: 'Every try, oldest first', resolve: (d) => d.tries }),
    ticketId: t.exposeID('ticketId', { nullable: true }),
  }),
});

async function newest(context: Context, where: ReturnType<typeof eq>, first: number | null | undefined) {
  const count = parseInput(intRange(1, 100), first ?? 20, 'first');
  return context.db.select().from(deliveries).where(where).orderBy(desc(deliveries.id)).limit(count);
}

builder.objectField(ChannelRef, 'deliveries', (t) =>
  t.field({
    type: [DeliveryRef],
    description: 'The channel’s last deliveries, newest first (the last 100, of 30 days at most, are kept)',
    args: { first: t.arg.int({ defaultValue: 20 }) },
    resolve: (channel, args, context) => newest(context, eq(deliveries.channelId, channel.id), args.first),
  }),
);

builder.objectField(WebhookRef, 'deliveries', (t) =>
  t.field({
    type: [DeliveryRef],
    description: 'The webhook’s last deliveries, newest first (the last 100, of 30 days at most, are kept)',
    args: { first: t.arg.int({ defaultValue: 20 }) },
    resolve: (hook, args, context) => newest(context, eq(deliveries.webhookId, hook.id), args.first),
  }),
);

async function loadDelivery(context: Context, id: number): Promise<DeliveryRow> {
  const [row] = await context.db.select().from(deliveries).where(eq(deliveries.id, id));
  if (!row) throw new NotFound('delivery', id);
  return row;
}

builder.mutationFields((t) => ({
  redeliver: t.field({
    type: DeliveryRef,
    description:
      'Sends a delivery again, as it was (the same deliveryId, so a receiver that has it can drop it); its tries are added to its history',
    args: { deliveryId: t.arg.id({ required: true }) },
    authScopes: async (_root, args, context) =>
      leadOf((await loadDelivery(context, parseId(args.deliveryId, 'deliveryId'))).projectId),
    resolve: async (_root, args, context) => {
      const id = parseId(args.deliveryId, 'deliveryId');
      return context.db.transaction(async (tx) => {
        const [row] = await tx
          .update(deliveries)
          .set({ status: 'PENDING', updatedAt: sql`now()` })
          .where(eq(deliveries.id, id))
          .returning();
        if (!row) throw new NotFound('delivery', id);
        const [project] = await tx.select({ pool: projects.pool }).from(projects).where(eq(projects.id, row.projectId));
        await enqueueJob(tx, {
          projectId: row.projectId,
          ticketId: row.ticketId,
          kind: 'WEBHOOK',
          pool: project?.pool ?? 'default',
          payload: { deliveryId: row.id },
        });
        return row;
      });
    },
  }),
}));

import { httpUrl, NotFound, parseInput, textLine, webhooks } from '@slipway/schema';
import { asc, eq } from 'drizzle-orm';
import { builder } from './builder.ts';
import { opened, sealed } from './context.ts';
import { parseId } from './ids.ts';
import { loadProject, ProjectRef } from './projects.ts';

type WebhookRow = typeof webhooks.$inferSelect;

export const WebhookRef = builder.objectRef<WebhookRow>('Webhook').implement({
  description:
    'A JSON POST for every event a NotificationEvent names (the same body as a WEBHOOK channel’s: event, deliveryId, project, ticket, release, environment, actor, comment, url, title, lines; headers X-Slipway-Event and X-Slipway-Delivery), signed (X-Slipway-Signature: sha256=HMAC of the body) when it has a secret',
  fields: (t) => ({
    id: t.exposeID('id'),
    url: t.string({ resolve: (w, _args, context) => opened(context, w.url) }),
    signed: t.boolean({ resolve: (w) => w.secret !== null }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.objectField(ProjectRef, 'webhooks', (t) =>
  t.field({
    type: [WebhookRef],
    description: 'Leads and admins only: a webhook URL often carries its secret',
    authScopes: (project) => ({ $any: { admin: true, member: { projectId: project.id, role: 'LEAD' } } }),
    resolve: (project, _args, { db }) =>
      db.select().from(webhooks).where(eq(webhooks.projectId, project.id)).orderBy(asc(webhooks.id)),
  }),
);

builder.mutationFields((t) => ({
  addWebhook: t.field({
    type: WebhookRef,
    authScopes: { admin: true },
    args: { projectId: t.arg.id({ required: true }), url: t.arg.string({ required: true }), secret: t.arg.string() },
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const url = parseInput(httpUrl, args.url, 'url');
      const secret = args.secret == null ? null : sealed(context, parseInput(textLine(200), args.secret, 'secret'));
      await loadProject(context, projectId);
      const [row] = await context.db
        .insert(webhooks)
        .values({ projectId, url: sealed(context, url), secret })
        .returning();
      if (!row) throw new Error('insert returned no row');
      return row;
    },
  }),
  removeWebhook: t.boolean({
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, { db }) => {
      const id = parseId(args.id, 'id');
      const removed = await db.delete(webhooks).where(eq(webhooks.id, id)).returning({ id: webhooks.id });
      if (removed.length === 0) throw new NotFound('webhook', id);
      return true;
    },
  }),
}));

import {
  BadUserInput,
  emailAddress,
  enqueueJob,
  httpUrl,
  messageLanguage,
  NotFound,
  notificationChannels,
  notificationEvent,
  notificationKind,
  parseInput,
  textLine,
} from '@slipway/schema';
import { asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { builder } from './builder.ts';
import { type Context, opened, sealed } from './context.ts';
import { parseId } from './ids.ts';
import { JobRef } from './jobs.ts';
import { loadProject, ProjectRef } from './projects.ts';
import { loadUser } from './users.ts';

type ChannelRow = typeof notificationChannels.$inferSelect;

const NotificationKindEnum = builder.enumType('NotificationKind', { values: notificationKind.enumValues });
export const NotificationEventEnum = builder.enumType('NotificationEvent', { values: notificationEvent.enumValues });
const MessageLanguageEnum = builder.enumType('MessageLanguage', { values: messageLanguage.enumValues });

export const ChannelRef = builder.objectRef<ChannelRow>('NotificationChannel').implement({
  description: 'Where a project’s news goes (a chat robot, a signed webhook, e-mail), with the events it wants',
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.expose('kind', { type: NotificationKindEnum }),
    name: t.exposeString('name'),
    url: t.string({
      nullable: true,
      description: 'Often carries the robot’s key',
      resolve: (c, _args, context) => (c.url ? opened(context, c.url) : null),
    }),
    signed: t.boolean({ description: 'Whether a signing secret is stored', resolve: (c) => c.secret !== null }),
    events: t.field({ type: [NotificationEventEnum], resolve: (c) => c.events }),
    language: t.expose('language', { type: MessageLanguageEnum }),
    emailTo: t.exposeStringList('emailTo'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const ChannelInput = builder.inputType('NotificationChannelInput', {
  fields: (t) => ({
    kind: t.field({ type: NotificationKindEnum, required: true }),
    name: t.string({ required: true }),
    url: t.string({ description: 'The robot’s or receiver’s URL; none for EMAIL' }),
    secret: t.string({ description: 'DingTalk or Feishu signing secret, or the webhook’s HMAC key' }),
    events: t.field({ type: [NotificationEventEnum], required: true }),
    language: t.field({ type: MessageLanguageEnum, description: 'Default EN' }),
    emailTo: t.stringList({
      description:
        'EMAIL: addresses that get every message; the people a ticket waits for (or concerns) get it too, at the e-mail in their profile',
    }),
  }),
});

const channelInput = z
  .object({
    kind: z.enum(notificationKind.enumValues),
    name: textLine(100),
    url: httpUrl.nullish(),
    secret: textLine(500).nullish(),
    events: z.array(z.enum(notificationEvent.enumValues)).min(1, 'must name at least one event'),
    language: z.enum(messageLanguage.enumValues).nullish(),
    emailTo: z.array(emailAddress).max(50, 'must have at most 50 addresses').nullish(),
  })
  .superRefine((input, ctx) => {
    if (input.kind !== 'EMAIL' && !input.url)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'is required for this kind of channel' });
  });

export const leadOf = (projectId: number) => ({ $any: { admin: true, member: { projectId, role: 'LEAD' as const } } });

async function loadChannel(context: Context, id: number): Promise<ChannelRow> {
  const [row] = await context.db.select().from(notificationChannels).where(eq(notificationChannels.id, id));
  if (!row) throw new NotFound('notification channel', id);
  return row;
}

/** The row a channel's input makes; its URL and signing secret sealed with the server's key. */
function values(context: Context, input: z.output<typeof channelInput>) {
  return {
    kind: input.kind,
    name: input.name,
    // Sealed too: a robot's URL carries its key.
    url: input.kind === 'EMAIL' || !input.url ? null : sealed(context, input.url),
    secret: input.secret ? sealed(context, input.secret) : null,
    events: [...new Set(input.events)],
    language: input.language ?? 'EN',
    emailTo: input.kind === 'EMAIL' ? (input.emailTo ?? []) : [],
  };
}

builder.objectField(ProjectRef, 'notificationChannels', (t) =>
  t.field({
    type: [ChannelRef],
    description: 'Leads and admins only: a robot’s URL carries its key',
    authScopes: (project) => leadOf(project.id),
    resolve: (project, _args, { db }) =>
      db
        .select()
        .from(notificationChannels)
        .where(eq(notificationChannels.projectId, project.id))
        .orderBy(asc(notificationChannels.id)),
  }),
);

builder.mutationFields((t) => ({
  addNotificationChannel: t.field({
    type: ChannelRef,
    args: {
      projectId: t.arg.id({ required: true }),
      input: t.arg({ type: ChannelInput, required: true }),
    },
    authScopes: (_root, args) => leadOf(parseId(args.projectId, 'projectId')),
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const input = parseInput(channelInput, args.input, 'input');
      await loadProject(context, projectId);
      const [row] = await context.db
        .insert(notificationChannels)
        .values({ projectId, ...values(context, input) })
        .returning();
      if (!row) throw new Error('insert returned no row');
      return row;
    },
  }),
  updateNotificationChannel: t.field({
    type: ChannelRef,
    description: 'Replaces the channel’s settings (a secret left out is kept)',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: ChannelInput, required: true }) },
    authScopes: async (_root, args, context) => leadOf((await loadChannel(context, parseId(args.id, 'id'))).projectId),
    resolve: async (_root, args, context) => {
      const id = parseId(args.id, 'id');
      const input = parseInput(channelInput, args.input, 'input');
      const current = await loadChannel(context, id);
      const next = values(context, input);
      const [row] = await context.db
        .update(notificationChannels)
        .set({ ...next, secret: input.secret === undefined ? current.secret : next.secret })
        .where(eq(notificationChannels.id, id))
        .returning();
      if (!row) throw new NotFound('notification channel', id);
      return row;
    },
  }),
  removeNotificationChannel: t.boolean({
    args: { id: t.arg.id({ required: true }) },
    authScopes: async (_root, args, context) => leadOf((await loadChannel(context, parseId(args.id, 'id'))).projectId),
    resolve: async (_root, args, { db }) => {
      const id = parseId(args.id, 'id');
      const removed = await db
        .delete(notificationChannels)
        .where(eq(notificationChannels.id, id))
        .returning({ id: notificationChannels.id });
      if (removed.length === 0) throw new NotFound('notification channel', id);
      return true;
    },
  }),
  testNotificationChannel: t.field({
    type: JobRef,
    description: 'Sends a test message once; the job’s log shows what the receiver answered',
    args: { id: t.arg.id({ required: true }) },
    authScopes: async (_root, args, context) => leadOf((await loadChannel(context, parseId(args.id, 'id'))).projectId),
    resolve: async (_root, args, context) => {
      const channel = await loadChannel(context, parseId(args.id, 'id'));
      const project = await loadProject(context, channel.projectId);
      // An e-mail channel with no fixed addresses (it mails the people concerned) is tried on the one testing it.
      let testTo: string[] | undefined;
      if (channel.kind === 'EMAIL' && channel.emailTo.length === 0) {
        const me = await loadUser(context, (context.viewer as { id: number }).id);
        if (!me.email)
          throw new BadUserInput(
            'id',
            'the channel has no fixed addresses and your profile has no e-mail to test with',
          );
        testTo = [me.email];
      }
      return enqueueJob(context.db, {
        projectId: project.id,
        kind: 'WEBHOOK',
        pool: project.pool,
        maxAttempts: 1,
        payload: { channelId: channel.id, test: true, ...(testTo ? { testTo } : {}) },
      });
    },
  }),
}));

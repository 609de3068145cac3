import { createHmac } from 'node:crypto';
import {
  deployResults,
  environments,
  eventSentence,
  memberships,
  type NotificationEvent,
  type notificationChannels,
  projects,
  releases,
  targets,
  targetVerifications,
  ticketEvents,
  tickets,
  users,
} from '@slipway/schema';
import { and, eq, inArray, ne } from 'drizzle-orm';
import { createTransport } from 'nodemailer';
import type { JobContext } from './jobs/context.ts';

export type ChannelRow = typeof notificationChannels.$inferSelect;
type Language = ChannelRow['language'];

/** Someone a message is for: chat channels mention them (by mobile or e-mail), e-mail channels mail them. */
export interface Person {
  name: string;
  email: string | null;
  mobile: string | null;
}

/** One message, whatever the channel: a title, Markdown lines, and a link to the console. */
export interface Message {
  title: string;
  lines: string[];
  link: string | null;
  /** The people the ticket now waits for (mentioned in chats, mailed); or whom it concerns (mailed only). */
  people?: Person[];
  /** Whether the people are to act ("waiting for you"): only then do chats mention them. */
  waiting?: boolean;
}

type Ticket = typeof tickets.$inferSelect;

/**
 * Who a ticket event is for. Waiting for someone: a staged ticket for its testers (the leads when the project has
 * none), one to approve for its leads (not the author, unless the project allows it), an approved, returned or
 * failed one for its author. Concerning the author only: rejected and live. Disabled users are never named.
 */
export async function peopleFor(
  context: Pick<JobContext, 'db'>,
  ticket: Ticket,
  event: NotificationEvent,
  action?: string,
): Promise<{ people: Person[]; waiting: boolean }> {
  const { db } = context;
  const fields = { name: users.name, email: users.email, mobile: users.mobile };
  const author = () =>
    db
      .select(fields)
      .from(users)
      .where(and(eq(users.id, ticket.authorId), eq(users.disabled, false)));
  const members = async (role: 'TESTER' | 'LEAD', withAuthor: boolean) =>
    db
      .select(fields)
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(
        and(
          eq(memberships.projectId, ticket.projectId),
          inArray(memberships.role, [role]),
          eq(users.disabled, false),
          ...(withAuthor ? [] : [ne(users.id, ticket.authorId)]),
        ),
      )
      .orderBy(users.name);
  // A scheduled deploy that did not start: its author and the project's leads (someone must start it, or say why not).
  if (action === 'SCHEDULED_DEPLOY_FAILED') {
    const people = [...(await author()), ...(await members('LEAD', true))];
    return { people: [...new Map(people.map((p) => [JSON.stringify(p), p])).values()], waiting: true };
  }
  switch (event) {
    case 'STAGED': {
      const testers = await members('TESTER', false);
      return { people: testers.length ? testers : await members('LEAD', false), waiting: true };
    }
    case 'TEST_PASSED':
    case 'ROLLBACK_REQUESTED':
    case 'PROMOTION_REQUESTED':
    case 'REPAIR_REQUESTED':
    case 'REVERT_REQUESTED': {
      const [project] = await db
        .select({ allowSelfApproval: projects.allowSelfApproval })
        .from(projects)
        .where(eq(projects.id, ticket.projectId));
      return { people: await members('LEAD', project?.allowSelfApproval ?? false), waiting: true };
    }
    case 'APPROVED':
    case 'RETURNED':
    case 'STAGING_FAILED':
    case 'DEPLOY_FAILED':
      return { people: await author(), waiting: true };
    case 'REJECTED':
    case 'DEPLOYED':
      return { people: await author(), waiting: false };
    default:
      return { people: [], waiting: false };
  }
}

const WORDS: Record<Language, Record<NotificationEvent | 'TEST' | 'ROLLED_BACK' | 'REPAIRED', string>> = {
  EN: {
    SUBMITTED: 'submitted',
    STAGED: 'is on staging, ready to test',
    STAGING_FAILED: 'could not be staged',
    RETURNED: 'was returned',
    TEST_PASSED: 'passed the test, waiting for approval',
    APPROVED: 'was approved, ready to deploy',
    REJECTED: 'was rejected',
    DEPLOYING: 'is deploying',
    DEPLOYED: 'is live',
    ROLLED_BACK: 'rolled back',
    REPAIRED: 'repaired',
    DEPLOY_FAILED: 'failed to deploy',
    ROLLBACK_REQUESTED: 'rollback requested, waiting for approval',
    PROMOTION_REQUESTED: 'promotion requested, waiting for approval',
    REPAIR_REQUESTED: 'repair requested, waiting for approval',
    REVERT_REQUESTED: 'revert requested, waiting for approval',
    CANCELLED: 'was cancelled',
    FREEZE_STARTED: 'Deploys are frozen',
    FREEZE_ENDED: 'Deploys are open again',
    DRIFT_DETECTED: 'differs from its release',
    DRIFT_RESOLVED: 'holds its release again',
    TEST: 'Test message from Slipway',
  },
  ZH_CN: {
    SUBMITTED: '已提交',
    STAGED: '已更新到预发布环境，等待测试',
    STAGING_FAILED: '更新预发布环境失败',
    RETURNED: '已退回',
    TEST_PASSED: '测试通过，等待审批',
    APPROVED: '已审批，可以发布',
    REJECTED: '已驳回',
    DEPLOYING: '正在发布',
    DEPLOYED: '已上线',
    ROLLED_BACK: '已回滚',
    REPAIRED: '已修复',
    DEPLOY_FAILED: '发布失败',
    ROLLBACK_REQUESTED: '已申请回滚，等待审批',
    PROMOTION_REQUESTED: '已申请晋级，等待审批',
    REPAIR_REQUESTED: '已申请修复，等待审批',
    REVERT_REQUESTED: '已申请撤销，等待审批',
    CANCELLED: '已取消',
    FREEZE_STARTED: '发布已冻结',
    FREEZE_ENDED: '发布已解冻',
    DRIFT_DETECTED: '与版本内容不一致',
    DRIFT_RESOLVED: '已恢复与版本一致',
    TEST: 'Slipway 测试消息',
  },
};

const LABELS: Record<Language, Record<string, string>> = {
  EN: {
    by: 'by',
    version: 'Version',
    environment: 'Environment',
    targets: 'Targets',
    reason: 'Reason',
    comment: 'Comment',
    paths: 'Paths',
    open: 'Open in Slipway',
    waiting: 'Waiting for',
    until: 'until',
    differ: 'paths differ',
    ADDED: 'only on the target',
    MODIFIED: 'changed on the target',
    DELETED: 'missing on the target',
    test: 'If you read this, the channel works.',
  },
  ZH_CN: {
    by: '操作人',
    version: '版本',
    environment: '环境',
    targets: '目标机',
    reason: '原因',
    comment: '备注',
    paths: '路径',
    open: '在 Slipway 中查看',
    waiting: '等待处理',
    until: '截止',
    differ: '个路径不一致',
    ADDED: '仅目标机上有',
    MODIFIED: '目标机上被修改',
    DELETED: '目标机上缺失',
    test: '收到这条消息说明通道可用。',
  },
};

export interface ChannelPayload {
  channelId?: number;
  event?: NotificationEvent;
  eventId?: number;
  drift?: { targetId: number };
  freeze?: { reason?: string; until?: string | null; byId?: number | null; environment?: string };
  test?: boolean;
  /** A test of an e-mail channel with no fixed addresses goes to the one testing it. */
  testTo?: string[];
}

const link = (context: JobContext, path: string) =>
  context.publicUrl ? `${context.publicUrl.replace(/\/$/, '')}/#${path}` : null;

/** What to say, in the channel's language: who did what to which ticket (the version and targets for deploys). */
export async function composeMessage(
  context: JobContext,
  channel: Pick<ChannelRow, 'projectId' | 'language'>,
  payload: ChannelPayload,
): Promise<Message | null> {
  const { db } = context;
  const words = WORDS[channel.language];
  const label = LABELS[channel.language];
  const [project] = await db.select().from(projects).where(eq(projects.id, channel.projectId));
  if (!project) return null;
  if (payload.test) return { title: `[${project.name}] ${words.TEST}`, lines: [label.test as string], link: null };
  const event = payload.event as NotificationEvent;
  if (payload.freeze) {
    const [by] = payload.freeze.byId ? await db.select().from(users).where(eq(users.id, payload.freeze.byId)) : [];
    const lines = [
      ...(payload.freeze.environment ? [`**${label.environment}**: ${payload.freeze.environment}`] : []),
      ...(payload.freeze.reason ? [`**${label.reason}**: ${payload.freeze.reason}`] : []),
      ...(payload.freeze.until ? [`**${label.until}**: ${payload.freeze.until}`] : []),
      ...(by ? [`**${label.by}**: ${by.name}`] : []),
    ];
    return { title: `[${project.name}] ${words[event]}`, lines, link: link(context, `/projects/${project.id}`) };
  }
  if (payload.drift) {
    const [row] = await db
      .select({ name: targets.name, count: targetVerifications.driftedCount, drifted: targetVerifications.drifted })
      .from(targets)
      .leftJoin(targetVerifications, eq(targetVerifications.targetId, targets.id))
      .where(eq(targets.id, payload.drift.targetId));
    if (!row) return null;
    const paths = ((row.drifted ?? []) as { path: string; change: string }[]).slice(0, 10);
    const lines =
      event === 'DRIFT_DETECTED'
        ? [`${row.count ?? 0} ${label.differ}`, ...paths.map((p) => `- ${label[p.change] ?? p.change} \`${p.path}\``)]
        : [];
    return {
      title: `[${project.name}] ${row.name} ${words[event]}`,
      lines,
      link: link(context, `/projects/${project.id}/releases`),
    };
  }
  const [found] = await db
    .select({ event: ticketEvents, ticket: tickets })
    .from(ticketEvents)
    .innerJoin(tickets, eq(tickets.id, ticketEvents.ticketId))
    .where(eq(ticketEvents.id, payload.eventId ?? 0));
  if (!found) return null;
  const { ticket } = found;
  const [actor] = found.event.actorId ? await db.select().from(users).where(eq(users.id, found.event.actorId)) : [];
  const lines = [`**${label.reason}**: ${ticket.reason}`];
  if (ticket.paths.length) lines.push(`**${label.paths}**: ${ticket.paths.slice(0, 10).join(', ')}`);
  if (actor) lines.push(`**${label.by}**: ${actor.name} (${actor.login})`);
  // The executor's own events in the channel's language (English: the comment, which says the same).
  const comment = found.event.message ? eventSentence(channel.language, found.event.message) : found.event.comment;
  if (comment) lines.push(`**${label.comment}**: ${comment}`);
  const deploying = event === 'DEPLOYING' || event === 'DEPLOYED' || event === 'DEPLOY_FAILED';
  if (deploying || event === 'PROMOTION_REQUESTED') {
    const [release] = ticket.releaseId ? await db.select().from(releases).where(eq(releases.id, ticket.releaseId)) : [];
    if (release) lines.push(`**${label.version}**: v${release.number}`);
    // Where it goes, when the project has more than one environment.
    const all = await db
      .select({ id: environments.id, name: environments.name })
      .from(environments)
      .where(eq(environments.projectId, project.id));
    const environment = all.find((e) => e.id === ticket.environmentId);
    if (all.length > 1 && environment) lines.push(`**${label.environment}**: ${environment.name}`);
  }
  if (deploying) {
    const results = await db
      .select({ name: deployResults.targetName, outcome: deployResults.outcome })
      .from(deployResults)
      .where(eq(deployResults.ticketId, ticket.id));
    const names = results.length
      ? results.map((r) => `${r.name} ${r.outcome}`)
      : (
          await db.select({ name: targets.name }).from(targets).where(eq(targets.environmentId, ticket.environmentId))
        ).map((t) => t.name);
    if (names.length) lines.push(`**${label.targets}**: ${names.join(', ')}`);
  }
  const { people, waiting } = await peopleFor(context, ticket, event, found.event.action);
  if (waiting && people.length) lines.push(`**${label.waiting}**: ${people.map((p) => p.name).join(', ')}`);
  // A rollback or a repair that went through says so (its deploy is no new version going live).
  const done =
    event === 'DEPLOYED' && ticket.kind === 'ROLLBACK'
      ? words.ROLLED_BACK
      : event === 'DEPLOYED' && ticket.kind === 'REPAIR'
        ? words.REPAIRED
        : words[event];
  return {
    title: `[${project.name}] #${ticket.id} ${done}`,
    lines,
    link: link(context, `/tickets/${ticket.id}`),
    people,
    waiting,
  };
}

const markdown = (message: Message, openLabel: string) =>
  [`### ${message.title}`, ...message.lines, ...(message.link ? [`[${openLabel}](${message.link})`] : [])].join('\n\n');

/** A delivery the receiver answered: what it said (for the job log and testNotificationChannel). */
export interface Delivered {
  status: number;
  body: string;
}

/** DingTalk's signature: the URL gets `timestamp` and `sign` = Base64(HMAC-SHA256(secret, `timestamp\nsecret`)). */
export function dingTalkUrl(url: string, secret: string | null, now = Date.now()): string {
  if (!secret) return url;
  const sign = createHmac('sha256', secret).update(`${now}\n${secret}`).digest('base64');
  const signed = new URL(url);
  signed.searchParams.set('timestamp', String(now));
  signed.searchParams.set('sign', sign);
  return signed.toString();
}

/** Feishu's signature: Base64(HMAC-SHA256 keyed with `timestamp\nsecret` over an empty message); seconds. */
export function feishuSign(secret: string, seconds: number): string {
  return createHmac('sha256', `${seconds}\n${secret}`).update('').digest('base64');
}

/** The request for a chat channel (everything but e-mail). Pure, for testing. */
export function chatRequest(
  channel: Pick<ChannelRow, 'kind' | 'url' | 'secret' | 'language'>,
  message: Message,
  now = Date.now(),
): { url: string; body: string; headers: Record<string, string> } {
  const openLabel = LABELS[channel.language].open as string;
  const text = markdown(message, openLabel);
  const url = channel.url as string;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Slipway' };
  const mentioned = message.waiting ? (message.people ?? []) : [];
  const mobiles = [...new Set(mentioned.flatMap((p) => (p.mobile ? [p.mobile] : [])))];
  switch (channel.kind) {
    case 'DINGTALK':
      // DingTalk notifies the numbers in `at.atMobiles` that the text also names as "@number".
      return {
        url: dingTalkUrl(url, channel.secret, now),
        body: JSON.stringify({
          msgtype: 'markdown',
          markdown: {
            title: message.title,
            text: [text, ...(mobiles.length ? [mobiles.map((m) => `@${m}`).join(' ')] : [])].join('\n\n'),
          },
          ...(mobiles.length ? { at: { atMobiles: mobiles, isAtAll: false } } : {}),
        }),
        headers,
      };
    case 'FEISHU': {
      const seconds = Math.floor(now / 1000);
      const card = {
        header: { title: { tag: 'plain_text', content: message.title } },
        elements: [
          {
            tag: 'markdown',
            // A card mentions people by the e-mail of their Feishu account.
            content: [
              ...message.lines,
              ...(message.link ? [`[${openLabel}](${message.link})`] : []),
              ...mentioned.flatMap((p) => (p.email ? [`<at email=${p.email}></at>`] : [])),
            ].join('\n'),
          },
        ],
      };
      return {
        url,
        body: JSON.stringify({
          ...(channel.secret ? { timestamp: String(seconds), sign: feishuSign(channel.secret, seconds) } : {}),
          msg_type: 'interactive',
          card,
        }),
        headers,
      };
    }
    case 'WECOM':
      // WeCom mentions by mobile only in a text message; without anyone to mention, Markdown.
      return {
        url,
        body: JSON.stringify(
          mobiles.length
            ? { msgtype: 'text', text: { content: plainText(message), mentioned_mobile_list: mobiles } }
            : { msgtype: 'markdown', markdown: { content: text } },
        ),
        headers,
      };
    case 'SLACK': {
      // Slack's mrkdwn: *bold*, <url|label>.
      const mrkdwn = [
        `*${message.title}*`,
        ...message.lines.map((l) => l.replace(/\*\*([^*]+)\*\*/g, '*$1*')),
        ...(message.link ? [`<${message.link}|${openLabel}>`] : []),
      ].join('\n');
      return {
        url,
        body: JSON.stringify({
          text: message.title,
          blocks: [{ type: 'section', text: { type: 'mrkdwn', text: mrkdwn } }],
        }),
        headers,
      };
    }
    default: {
      // A program reads the lines as they are: plain text, no Markdown.
      const body = JSON.stringify({ title: message.title, lines: message.lines.map(plainLine), url: message.link });
      if (channel.secret)
        headers['x-slipway-signature'] = `sha256=${createHmac('sha256', channel.secret).update(body).digest('hex')}`;
      return { url, body, headers };
    }
  }
}

/**
 * Whether a chat service accepted the message: they answer 200 with an error code in the body (DingTalk and WeCom
 * `errcode`, Feishu `code`); a non-zero one is a failed delivery.
 */
export function refusal(kind: ChannelRow['kind'], status: number, body: string): string | null {
  if (status < 200 || status >= 300) return `answered ${status}`;
  if (kind === 'DINGTALK' || kind === 'WECOM' || kind === 'FEISHU') {
    let parsed: { errcode?: number; code?: number; errmsg?: string; msg?: string; StatusCode?: number };
    try {
      parsed = JSON.parse(body);
    } catch {
      return `answered ${status} with a body that is not JSON`;
    }
    const code = kind === 'FEISHU' ? (parsed.code ?? parsed.StatusCode) : parsed.errcode;
    if (code !== undefined && code !== 0) return `answered error ${code}: ${parsed.errmsg ?? parsed.msg ?? ''}`.trim();
  }
  return null;
}

/** Sends one e-mail (SLIPWAY_SMTP_URL, SLIPWAY_MAIL_FROM) to the channel's addresses. */
export async function sendMail(
  smtpUrl: string | undefined,
  from: string | undefined,
  to: string[],
  message: Message,
  language: Language,
): Promise<Delivered> {
  if (!smtpUrl) throw new Error('e-mail is not set up: SLIPWAY_SMTP_URL is not set');
  if (to.length === 0) throw new Error('the channel has no addresses to send to');
  const transport = createTransport(smtpUrl);
  try {
    const text = plainText(message);
    const info = await transport.sendMail({
      from: from ?? 'Slipway <slipway@localhost>',
      to,
      subject: message.title,
      text,
      html: `<h3>${escapeHtml(message.title)}</h3>${message.lines.map((l) => `<p>${escapeHtml(l).replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>')}</p>`).join('')}${message.link ? `<p><a href="${escapeHtml(message.link)}">${escapeHtml(LABELS[language].open as string)}</a></p>` : ''}`,
    });
    return { status: 250, body: info.response };
  } finally {
    transport.close();
  }
}

/** A message without Markdown: title, lines, link. */
/** A line without its Markdown: bold and code marks. */
export const plainLine = (line: string) => line.replace(/\*\*|`/g, '');

function plainText(message: Message): string {
  return [message.title, ...message.lines.map(plainLine), ...(message.link ? [message.link] : [])].join('\n');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

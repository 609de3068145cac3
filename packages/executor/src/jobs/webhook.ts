import { createHmac } from 'node:crypto';
import {
  environments,
  finishJob,
  notificationChannels,
  openStored,
  projects,
  releases,
  retryJobLater,
  targets,
  targetVerifications,
  ticketEvents,
  tickets,
  users,
  webhooks,
} from '@slipway/schema';
import { eq } from 'drizzle-orm';
import { type ChannelPayload, chatRequest, composeMessage, refusal, sendMail } from '../notify.ts';
import type { JobContext, JobHandler } from './context.ts';
import { LeaseLost } from './context.ts';

interface WebhookPayload {
  webhookId: number;
  /** A ticket event; or */
  eventId?: number;
  /** a target that started or stopped drifting (a verification found it). */
  drift?: { event: 'drift.detected' | 'drift.resolved'; targetId: number; verifyJobId: number };
}

/** Paths named in a drift delivery (the count is whole). */
const DRIFT_PATHS_SENT = 50;

/** The JSON body of a drift delivery: which target of which project drifted (or is back), and what differs. */
async function driftBody(context: JobContext, drift: NonNullable<WebhookPayload['drift']>): Promise<string | null> {
  const { db } = context;
  const [row] = await db
    .select({ target: targets, verification: targetVerifications })
    .from(targets)
    .leftJoin(targetVerifications, eq(targetVerifications.targetId, targets.id))
    .where(eq(targets.id, drift.targetId));
  if (!row) return null;
  const [project] = await db.select().from(projects).where(eq(projects.id, row.target.projectId));
  const [release] = row.verification?.releaseId
    ? await db.select().from(releases).where(eq(releases.id, row.verification.releaseId))
    : [];
  const paths = ((row.verification?.drifted ?? []) as { path: string; change: string }[])
    .slice(0, DRIFT_PATHS_SENT)
    .map(({ path, change }) => ({ path, change }));
  return JSON.stringify({
    event: { action: drift.event, verifyJobId: drift.verifyJobId, at: row.verification?.checkedAt ?? null },
    project: { id: project?.id, name: project?.name },
    target: { id: row.target.id, name: row.target.name },
    expected: release ? `v${release.number}` : null,
    state: row.verification?.state ?? null,
    driftedCount: row.verification?.driftedCount ?? 0,
    drifted: paths,
    url: context.publicUrl ? `${context.publicUrl.replace(/\/$/, '')}/#/projects/${project?.id}/releases` : null,
  });
}

/** The JSON body of a webhook delivery: who did what to which ticket, with a link to the console. */
export async function webhookBody(context: JobContext, payload: WebhookPayload): Promise<string | null> {
  if (payload.drift) return driftBody(context, payload.drift);
  const { db } = context;
  const [event] = await db
    .select()
    .from(ticketEvents)
    .where(eq(ticketEvents.id, payload.eventId ?? 0));
  if (!event) return null;
  const [ticket] = await db.select().from(tickets).where(eq(tickets.id, event.ticketId));
  const [project] = await db.select().from(projects).where(eq(projects.id, event.projectId));
  const [actor] = event.actorId ? await db.select().from(users).where(eq(users.id, event.actorId)) : [];
  const [environment] = ticket
    ? await db.select().from(environments).where(eq(environments.id, ticket.environmentId))
    : [];
  return JSON.stringify({
    event: {
      id: event.id,
      action: event.action,
      from: event.fromState,
      to: event.toState,
      comment: event.comment,
      at: event.at,
    },
    project: { id: project?.id, name: project?.name },
    ticket: { id: ticket?.id, kind: ticket?.kind, state: ticket?.state, reason: ticket?.reason, paths: ticket?.paths },
    environment: environment ? { id: environment.id, name: environment.name } : null,
    actor: actor ? { id: actor.id, login: actor.login, name: actor.name } : null,
    url: context.publicUrl ? `${context.publicUrl.replace(/\/$/, '')}/#/tickets/${ticket?.id}` : null,
  });
}

export const SIGNATURE_HEADER = 'x-slipway-signature';

/** A receiver as logs may show it: scheme and host, never the path or query (where tokens live). */
export function receiverOf(url: string): string {
  const parsed = URL.parse(url);
  return parsed ? `${parsed.protocol}//${parsed.host}/…` : 'the receiver';
}

/** One message to one notification channel; its answer goes in the job log (testNotificationChannel shows it). */
async function deliverToChannel(context: JobContext, payload: ChannelPayload): Promise<void> {
  const [channel] = await context.db
    .select()
    .from(notificationChannels)
    .where(eq(notificationChannels.id, payload.channelId));
  const message = channel ? await composeMessage(context, channel, payload) : null;
  if (!channel || !message) {
    context.sink.system('the channel or what it was about is gone: nothing to send');
  } else if (channel.kind === 'EMAIL') {
    // The channel's fixed addresses and the people concerned (the one testing, for a test message).
    const to = [
      ...new Set([
        ...channel.emailTo,
        ...(payload.testTo ?? []),
        ...(message.people ?? []).flatMap((p) => (p.email ? [p.email] : [])),
      ]),
    ];
    if (to.length === 0) context.sink.system(`no one to mail about: ${message.title}`);
    else {
      context.sink.system(`mail to ${to.join(', ')}: ${message.title}`);
      const answer = await sendMail(context.mail.smtpUrl, context.mail.from, to, message, channel.language);
      context.sink.system(`the mail server answered: ${answer.body}`);
    }
  } else {
    const request = chatRequest(
      {
        ...channel,
        url: channel.url && openStored(context.secrets, channel.url),
        secret: channel.secret && openStored(context.secrets, channel.secret),
      },
      message,
    );
    const shown = receiverOf(request.url);
    context.sink.system(`POST ${shown} (${channel.kind.toLowerCase()}): ${message.title}`);
    let response: Response;
    try {
      response = await fetch(request.url, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        redirect: 'manual',
        signal: AbortSignal.any([context.signal, AbortSignal.timeout(10_000)]),
      });
    } catch (error) {
      if (context.signal.aborted) throw error;
      const cause = (error as Error & { cause?: Error & { code?: string } }).cause;
      throw new Error(`POST ${shown} failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
    const body = (await response.text()).slice(0, 2000);
    context.sink.system(`${shown} answered ${response.status}: ${body}`);
    const refused = refusal(channel.kind, response.status, body);
    if (refused) throw new Error(`${shown} ${refused}`);
  }
  await context.sink.flush();
  if (!(await finishJob(context.db, context.job.id, context.workerId, { state: 'SUCCEEDED' })))
    throw new LeaseLost(context.job.id);
}

/** Delivers one ticket event to one webhook or channel; a failed delivery is tried again later, with backoff. */
export const deliverWebhook: JobHandler = {
  async perform(context) {
    const payload = context.job.payload as WebhookPayload & Partial<ChannelPayload>;
    if (payload.channelId) return deliverToChannel(context, payload as ChannelPayload);
    const [hook] = await context.db.select().from(webhooks).where(eq(webhooks.id, payload.webhookId));
    const body = hook ? await webhookBody(context, payload) : null;
    if (!hook || !body) {
      context.sink.system('the webhook or the event is gone: nothing to send');
      if (!(await finishJob(context.db, context.job.id, context.workerId, { state: 'SUCCEEDED' })))
        throw new LeaseLost(context.job.id);
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Slipway' };
    if (hook.secret) {
      const key = openStored(context.secrets, hook.secret);
      headers[SIGNATURE_HEADER] = `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
    }
    // Many receivers carry their secret in the URL: the log and the job's error name the host only.
    const url = openStored(context.secrets, hook.url);
    const shown = receiverOf(url);
    context.sink.system(`POST ${shown}`);
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.any([context.signal, AbortSignal.timeout(10_000)]),
      });
    } catch (error) {
      if (context.signal.aborted) throw error;
      const cause = (error as Error & { cause?: Error & { code?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new Error(`POST ${shown} failed: ${why.replaceAll(url, shown)}`);
    }
    await response.body?.cancel();
    if (response.status < 200 || response.status >= 300) throw new Error(`${shown} answered ${response.status}`);
    context.sink.system(`${shown} answered ${response.status}`);
    await context.sink.flush();
    if (!(await finishJob(context.db, context.job.id, context.workerId, { state: 'SUCCEEDED' })))
      throw new LeaseLost(context.job.id);
  },
  async fail(context, error) {
    await context.sink.flush();
    const { job } = context;
    const done =
      job.attempts >= job.maxAttempts
        ? await finishJob(context.db, job.id, context.workerId, { state: 'FAILED', error: error.message })
        : await retryJobLater(context.db, job.id, context.workerId, Math.min(2 ** job.attempts, 300), error.message);
    if (!done) throw new LeaseLost(job.id);
  },
};

import { createHmac } from 'node:crypto';
import {
  type DbOrTx,
  type DeliveryTry,
  deliveries,
  environments,
  finishJob,
  type NotificationEvent,
  notificationChannels,
  notificationOf,
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
import { and, eq, lt, or, sql } from 'drizzle-orm';
import {
  type ChannelPayload,
  chatRequest,
  composeMessage,
  type Delivered,
  type Message,
  plainLine,
  refusal,
  sendMail,
} from '../notify.ts';
import type { JobContext, JobHandler } from './context.ts';
import { LeaseLost } from './context.ts';

/** What a WEBHOOK job is told: the delivery it sends; or (a channel's test message) the channel itself. */
interface DeliveryJob extends Partial<ChannelPayload> {
  deliveryId?: number;
  /** Queued before deliveries were kept: the webhook and what it was about. */
  webhookId?: number;
}

type DeliveryRow = typeof deliveries.$inferSelect;

/** Deliveries kept per channel or webhook, and for how long: the history a lead looks at, not an archive. */
export const KEPT_DELIVERIES = 100;
export const KEPT_DAYS = 30;
/** Paths named in a drift delivery (the count is whole). */
const DRIFT_PATHS_SENT = 50;
/** The receiver's answer kept with a delivery. */
const ANSWER_KEPT = 1024;

export const SIGNATURE_HEADER = 'x-slipway-signature';

/** A receiver as logs may show it: scheme and host, never the path or query (where tokens live). */
export function receiverOf(url: string): string {
  const parsed = URL.parse(url);
  return parsed ? `${parsed.protocol}//${parsed.host}/…` : 'the receiver';
}

/** A try that did not deliver: what the receiver answered, if it did, and how long it took. */
class DeliveryFailed extends Error {
  constructor(
    message: string,
    readonly responseStatus: number | null = null,
    readonly responseBody: string | null = null,
    public durationMs = 0,
  ) {
    super(message);
  }
}

/**
 * The JSON a program receives (WEBHOOK channels and addWebhook): the event by its NotificationEvent name, the delivery
 * (its id is the same on every retry), the project, the ticket as it was at the event, its release and environment,
 * who acted, the comment, the link, and the human title and lines.
 */
export async function programBody(
  context: JobContext,
  delivery: Pick<DeliveryRow, 'id' | 'projectId' | 'event' | 'about' | 'createdAt'>,
  message: Message | null,
): Promise<Record<string, unknown>> {
  const { db } = context;
  const about = delivery.about as ChannelPayload;
  const [project] = await db.select().from(projects).where(eq(projects.id, delivery.projectId));
  const link = (path: string) => (context.publicUrl ? `${context.publicUrl.replace(/\/$/, '')}/#${path}` : null);
  const body: Record<string, unknown> = {
    event: delivery.event,
    deliveryId: delivery.id,
    at: delivery.createdAt.toISOString(),
    project: { id: delivery.projectId, name: project?.name ?? null },
    ticket: null,
    release: null,
    environment: null,
    actor: null,
    comment: null,
    url: link(`/projects/${delivery.projectId}`),
  };
  const person = (user: typeof users.$inferSelect | undefined) =>
    user ? { login: user.login, name: user.name } : null;
  if (about.eventId) {
    const [found] = await db
      .select({ event: ticketEvents, ticket: tickets })
      .from(ticketEvents)
      .innerJoin(tickets, eq(tickets.id, ticketEvents.ticketId))
      .where(eq(ticketEvents.id, about.eventId));
    if (found) {
      const { event, ticket } = found;
      const [author] = await db.select().from(users).where(eq(users.id, ticket.authorId));
      const [actor] = event.actorId ? await db.select().from(users).where(eq(users.id, event.actorId)) : [];
      const [release] = ticket.releaseId
        ? await db.select().from(releases).where(eq(releases.id, ticket.releaseId))
        : [];
      const [environment] = await db.select().from(environments).where(eq(environments.id, ticket.environmentId));
      Object.assign(body, {
        // The ticket as the event left it (a retry later still says what happened then).
        ticket: {
          id: ticket.id,
          kind: ticket.kind,
          state: event.toState,
          reason: ticket.reason,
          paths: ticket.paths,
          author: person(author),
        },
        action: event.action,
        release: release ? { tag: `v${release.number}` } : null,
        environment: environment ? { name: environment.name } : null,
        actor: person(actor),
        comment: event.comment,
        url: link(`/tickets/${ticket.id}`),
      });
    }
  } else if (about.drift) {
    const [row] = await db
      .select({ target: targets, verification: targetVerifications, environment: environments })
      .from(targets)
      .innerJoin(environments, eq(environments.id, targets.environmentId))
      .leftJoin(targetVerifications, eq(targetVerifications.targetId, targets.id))
      .where(eq(targets.id, about.drift.targetId));
    if (row) {
      const [release] = row.verification?.releaseId
        ? await db.select().from(releases).where(eq(releases.id, row.verification.releaseId))
        : [];
      Object.assign(body, {
        release: release ? { tag: `v${release.number}` } : null,
        environment: { name: row.environment.name },
        drift: {
          target: { id: row.target.id, name: row.target.name },
          state: row.verification?.state ?? null,
          driftedCount: row.verification?.driftedCount ?? 0,
          drifted: ((row.verification?.drifted ?? []) as { path: string; change: string }[])
            .slice(0, DRIFT_PATHS_SENT)
            .map(({ path, change }) => ({ path, change })),
          checkedAt: row.verification?.checkedAt ?? null,
        },
        url: link(`/projects/${delivery.projectId}/releases`),
      });
    }
  } else if (about.freeze) {
    const [by] = about.freeze.byId ? await db.select().from(users).where(eq(users.id, about.freeze.byId)) : [];
    Object.assign(body, {
      environment: about.freeze.environment ? { name: about.freeze.environment } : null,
      actor: person(by),
      freeze: { reason: about.freeze.reason ?? null, until: about.freeze.until ?? null },
    });
  }
  body.title = message?.title ?? null;
  body.lines = (message?.lines ?? []).map(plainLine);
  return body;
}

/** Sends one request; a refusal (by HTTP status, or a chat service's error code) is a failed try with the answer. */
async function post(
  context: JobContext,
  request: { url: string; body: string; headers: Record<string, string> },
  judge: (status: number, body: string) => string | null,
): Promise<Delivered> {
  const shown = receiverOf(request.url);
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
    const why = cause?.code ?? cause?.message ?? (error as Error).message;
    // Many receivers carry their secret in the URL: the log and the error name the host only.
    throw new DeliveryFailed(`POST ${shown} failed: ${why.replaceAll(request.url, shown)}`);
  }
  const body = (await response.text()).slice(0, 4 * ANSWER_KEPT);
  context.sink.system(`${shown} answered ${response.status}: ${body.slice(0, 2000)}`);
  const refused = judge(response.status, body);
  if (refused) throw new DeliveryFailed(`${shown} ${refused}`, response.status, body.slice(0, ANSWER_KEPT));
  return { status: response.status, body };
}

/** The request a program gets: the JSON body, its event and delivery in headers, signed when a secret is set. */
function programRequest(url: string, secret: string | null, body: Record<string, unknown>) {
  const text = JSON.stringify(body);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'Slipway',
    'x-slipway-event': String(body.event),
    'x-slipway-delivery': String(body.deliveryId),
  };
  if (secret) headers[SIGNATURE_HEADER] = `sha256=${createHmac('sha256', secret).update(text).digest('hex')}`;
  return { url, body: text, headers };
}

const programJudge = (status: number) => (status < 200 || status >= 300 ? `answered ${status}` : null);

/** Sends a delivery (or a channel's test message) to its channel or webhook; answers what the receiver said. */
async function send(
  context: JobContext,
  delivery: Sending,
  extra: Partial<ChannelPayload> = {},
): Promise<Delivered | null> {
  const { db } = context;
  const payload: ChannelPayload = { ...(delivery.about as ChannelPayload), ...extra, event: delivery.event };
  if (delivery.webhookId) {
    const [hook] = await db.select().from(webhooks).where(eq(webhooks.id, delivery.webhookId));
    if (!hook) return null;
    const message = await composeMessage(context, { projectId: delivery.projectId, language: 'EN' }, payload);
    const url = openStored(context.secrets, hook.url);
    context.sink.system(`POST ${receiverOf(url)} (${delivery.event})`);
    const secret = hook.secret && openStored(context.secrets, hook.secret);
    return post(context, programRequest(url, secret, await programBody(context, delivery, message)), programJudge);
  }
  const [channel] = await db
    .select()
    .from(notificationChannels)
    .where(eq(notificationChannels.id, delivery.channelId ?? 0));
  const message = channel ? await composeMessage(context, channel, payload) : null;
  if (!channel || !message) return null;
  if (channel.kind === 'EMAIL') {
    // The channel's fixed addresses and the people concerned (the one testing, for a test message).
    const to = [
      ...new Set([
        ...channel.emailTo,
        ...(payload.testTo ?? []),
        ...(message.people ?? []).flatMap((p) => (p.email ? [p.email] : [])),
      ]),
    ];
    if (to.length === 0) {
      context.sink.system(`no one to mail about: ${message.title}`);
      return { status: 0, body: 'no one to mail' };
    }
    context.sink.system(`mail to ${to.join(', ')}: ${message.title}`);
    const answer = await sendMail(context.mail.smtpUrl, context.mail.from, to, message, channel.language).catch(
      (error: Error) => {
        throw new DeliveryFailed(error.message);
      },
    );
    context.sink.system(`the mail server answered: ${answer.body}`);
    return answer;
  }
  const url = channel.url ? openStored(context.secrets, channel.url) : '';
  const secret = channel.secret && openStored(context.secrets, channel.secret);
  context.sink.system(`POST ${receiverOf(url)} (${channel.kind.toLowerCase()}): ${message.title}`);
  if (channel.kind === 'WEBHOOK')
    return post(context, programRequest(url, secret, await programBody(context, delivery, message)), programJudge);
  return post(context, chatRequest({ ...channel, url, secret }, message), (status, body) =>
    refusal(channel.kind, status, body),
  );
}

/** One try's outcome: the receiver's answer (its HTTP status and first KiB), or why it failed, and how long it took. */
interface TryOutcome {
  status: 'PENDING' | 'DELIVERED' | 'FAILED';
  responseStatus: number | null;
  responseBody: string | null;
  error: string | null;
  durationMs: number;
}

const failedTry = (status: TryOutcome['status'], error: Error): TryOutcome =>
  error instanceof DeliveryFailed
    ? {
        status,
        responseStatus: error.responseStatus,
        responseBody: error.responseBody,
        error: error.message,
        durationMs: error.durationMs,
      }
    : { status, responseStatus: null, responseBody: null, error: error.message, durationMs: 0 };

/** Records one try on the delivery: its outcome, the receiver's answer, and the delivery's state after it. */
async function recordTry(tx: DbOrTx, deliveryId: number, outcome: TryOutcome): Promise<void> {
  const { status, ...answer } = outcome;
  const attempt: DeliveryTry = {
    at: new Date().toISOString(),
    responseStatus: answer.responseStatus,
    error: answer.error,
    durationMs: answer.durationMs,
  };
  await tx
    .update(deliveries)
    .set({
      status,
      attempts: sql`${deliveries.attempts} + 1`,
      responseStatus: answer.responseStatus,
      responseBody: answer.responseBody,
      error: answer.error,
      // Every try (a redelivered delivery keeps its earlier ones).
      tries: sql`(${deliveries.tries} || ${JSON.stringify([attempt])}::jsonb)`,
      updatedAt: sql`now()`,
    })
    .where(eq(deliveries.id, deliveryId));
}

/** Keeps each channel's and webhook's history bounded: its newest deliveries, none older than KEPT_DAYS. */
async function prune(tx: DbOrTx, delivery: Pick<DeliveryRow, 'channelId' | 'webhookId'>): Promise<void> {
  const mine = delivery.channelId
    ? eq(deliveries.channelId, delivery.channelId)
    : eq(deliveries.webhookId, delivery.webhookId ?? 0);
  const [oldestKept] = await tx
    .select({ id: deliveries.id })
    .from(deliveries)
    .where(mine)
    .orderBy(sql`${deliveries.id} desc`)
    .offset(KEPT_DELIVERIES - 1)
    .limit(1);
  await tx
    .delete(deliveries)
    .where(
      and(
        mine,
        or(
          oldestKept ? lt(deliveries.id, oldestKept.id) : undefined,
          lt(deliveries.createdAt, sql`now() - make_interval(days => ${KEPT_DAYS})`),
        ),
      ),
    );
}

/** What is sent: a delivery, or (a test message, a job queued before deliveries were kept) one like it. */
type Sending = Pick<DeliveryRow, 'id' | 'projectId' | 'event' | 'about' | 'createdAt' | 'channelId' | 'webhookId'>;

/** A delivery queued before deliveries were kept (an upgrade with jobs waiting): sent as one, without history. */
async function legacyDelivery(context: JobContext, job: DeliveryJob): Promise<Sending | null> {
  let event: NotificationEvent | null = job.event ?? null;
  if (!event && job.drift)
    event = (job.drift as { event?: string }).event === 'drift.resolved' ? 'DRIFT_RESOLVED' : 'DRIFT_DETECTED';
  if (!event && job.eventId) {
    const [found] = await context.db.select().from(ticketEvents).where(eq(ticketEvents.id, job.eventId));
    event = found ? notificationOf(found.action, found.toState) : null;
  }
  if (!event) return null;
  return {
    id: context.job.id,
    projectId: context.project.id,
    event,
    about: { eventId: job.eventId, drift: job.drift, freeze: job.freeze },
    createdAt: context.job.createdAt,
    channelId: job.channelId ?? null,
    webhookId: job.webhookId ?? null,
  };
}

/**
 * Sends one delivery to one channel or webhook; a failed try is tried again later, with backoff, and every try is in
 * the delivery's history. A channel's test message is sent once, its answer in the job log.
 */
export const deliverWebhook: JobHandler = {
  async perform(context) {
    const job = context.job.payload as DeliveryJob;
    const began = performance.now();
    let delivery: Sending | null | undefined;
    if (job.deliveryId)
      [delivery] = await context.db.select().from(deliveries).where(eq(deliveries.id, job.deliveryId));
    else if (job.test && job.channelId)
      delivery = {
        id: context.job.id,
        projectId: context.project.id,
        event: 'SUBMITTED',
        about: {},
        createdAt: context.job.createdAt,
        channelId: job.channelId,
        webhookId: null,
      };
    else delivery = await legacyDelivery(context, job);
    let answer: Delivered | null = null;
    try {
      answer = delivery ? await send(context, delivery, job.test ? { test: true, testTo: job.testTo } : {}) : null;
    } catch (error) {
      if (context.signal.aborted || !(error instanceof DeliveryFailed)) throw error;
      error.durationMs = Math.round(performance.now() - began);
      throw error;
    }
    if (!answer) context.sink.system('the channel, the webhook or what it was about is gone: nothing to send');
    await context.sink.flush();
    await context.db.transaction(async (tx) => {
      if (!(await finishJob(tx, context.job.id, context.workerId, { state: 'SUCCEEDED' })))
        throw new LeaseLost(context.job.id);
      if (job.deliveryId && answer && delivery) {
        await recordTry(tx, job.deliveryId, {
          status: 'DELIVERED',
          responseStatus: answer.status || null,
          responseBody: answer.body.slice(0, ANSWER_KEPT),
          error: null,
          durationMs: Math.round(performance.now() - began),
        });
        await prune(tx, delivery);
      } else if (job.deliveryId) {
        await tx
          .update(deliveries)
          .set({ status: 'FAILED', error: 'what it was about is gone: nothing was sent', updatedAt: sql`now()` })
          .where(eq(deliveries.id, job.deliveryId));
      }
    });
  },
  async fail(context, error) {
    await context.sink.flush();
    const { job } = context;
    const { deliveryId } = job.payload as DeliveryJob;
    const last = job.attempts >= job.maxAttempts;
    await context.db.transaction(async (tx) => {
      const done = last
        ? await finishJob(tx, job.id, context.workerId, { state: 'FAILED', error: error.message })
        : await retryJobLater(tx, job.id, context.workerId, Math.min(2 ** job.attempts, 300), error.message);
      if (!done) throw new LeaseLost(job.id);
      if (deliveryId) await recordTry(tx, deliveryId, failedTry(last ? 'FAILED' : 'PENDING', error));
    });
  },
};

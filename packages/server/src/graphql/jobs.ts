import {
  BadUserInput,
  CHANNELS,
  deployPreviews,
  jobKind,
  jobLogLines,
  jobState,
  jobs,
  logStream,
  NotFound,
  ticketEvents,
  transferKind,
} from '@slipway/schema';
import { and, asc, desc, eq, gt } from 'drizzle-orm';
import { Repeater } from 'graphql-yoga';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { parseId } from './ids.ts';
import { loadProject, ProjectRef } from './projects.ts';
import { loadTicket, TicketEventRef, type TicketEventRow, TicketRef } from './tickets.ts';

type JobRow = typeof jobs.$inferSelect;
type LogLineRow = typeof jobLogLines.$inferSelect;

const JobKindEnum = builder.enumType('JobKind', { values: jobKind.enumValues });
const JobStateEnum = builder.enumType('JobState', { values: jobState.enumValues });
const LogStreamEnum = builder.enumType('LogStream', { values: logStream.enumValues });

export const JobRef = builder.objectRef<JobRow>('Job');

export const TransferEnum = builder.enumType('Transfer', {
  description: 'How a target gets a release: only the files changed since its version, or every file',
  values: transferKind.enumValues,
});

/** A path a deploy changes (or would change) on a target. */
export interface PathChange {
  path: string;
  change: 'ADDED' | 'MODIFIED' | 'DELETED';
}
export const PathChangeRef = builder.objectRef<PathChange>('PreviewItem').implement({
  fields: (t) => ({ path: t.exposeString('path'), change: t.exposeString('change') }),
});
const DeployPreviewRef = builder.objectRef<typeof deployPreviews.$inferSelect>('DeployPreview').implement({
  fields: (t) => ({
    targetName: t.exposeString('targetName'),
    items: t.field({ type: [PathChangeRef], resolve: (p) => p.items as PathChange[] }),
    transfer: t.expose('transfer', {
      type: TransferEnum,
      nullable: true,
      description: 'How the deploy would reach the target, decided as the deploy decides',
    }),
    error: t.exposeString('error', { nullable: true }),
  }),
});
const LogLineRef = builder.objectRef<LogLineRow>('LogLine');

const LOG_PAGE = 2000;

async function loadJob(context: Context, id: number): Promise<JobRow> {
  const [row] = await context.db.select().from(jobs).where(eq(jobs.id, id));
  if (!row) throw new NotFound('job', id);
  return row;
}

function readLog(context: Context, jobId: number, afterSeq: number, limit: number) {
  return context.db
    .select()
    .from(jobLogLines)
    .where(and(eq(jobLogLines.jobId, jobId), gt(jobLogLines.seq, afterSeq)))
    .orderBy(asc(jobLogLines.seq))
    .limit(limit);
}

JobRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.expose('kind', { type: JobKindEnum }),
    state: t.expose('state', { type: JobStateEnum }),
    attempts: t.exposeInt('attempts'),
    error: t.exposeString('lastError', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    project: t.field({ type: ProjectRef, resolve: (job, _args, context) => loadProject(context, job.projectId) }),
    ticket: t.field({
      type: TicketRef,
      nullable: true,
      resolve: (job, _args, context) => (job.ticketId ? loadTicket(context, job.ticketId) : null),
    }),
    preview: t.field({
      type: [DeployPreviewRef],
      description: 'For a PREVIEW job: what rsync would change on each target',
      resolve: (job, _args, { db }) =>
        db
          .select()
          .from(deployPreviews)
          .where(eq(deployPreviews.jobId, job.id))
          .orderBy(asc(deployPreviews.targetName)),
    }),
    log: t.field({
      type: [LogLineRef],
      description: `Stored output lines after afterSeq (at most ${LOG_PAGE}); subscribe to jobLog for live lines`,
      args: { afterSeq: t.arg.int({ defaultValue: 0 }) },
      resolve: (job, args, context) => readLog(context, job.id, args.afterSeq ?? 0, LOG_PAGE),
    }),
  }),
});

LogLineRef.implement({
  fields: (t) => ({
    seq: t.exposeInt('seq'),
    stream: t.expose('stream', { type: LogStreamEnum }),
    text: t.exposeString('text'),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

async function projectIdOfJob(context: Context, id: string | number): Promise<number> {
  return (await loadJob(context, parseId(id, 'jobId'))).projectId;
}

builder.queryField('job', (t) =>
  t.field({
    type: JobRef,
    args: { id: t.arg.id({ required: true }) },
    authScopes: async (_root, args, context) => ({
      $any: { admin: true, member: { projectId: await projectIdOfJob(context, args.id), role: 'VIEWER' } },
    }),
    resolve: (_root, args, context) => loadJob(context, parseId(args.id, 'id')),
  }),
);

/**
 * A subscription fed by notifications: `round` runs once at the start and again after each notification on
 * `channels` (wake-ups during a round fold into one more round, none is lost), pushing what it read, until it
 * answers true or the client goes away. The notification is only a hint; each round reads the tables.
 */
function followNotifications<T>(
  context: Context,
  projectId: number,
  channels: [channel: string, key: string][],
  round: (push: (value: T) => Promise<unknown>) => Promise<boolean>,
): Repeater<T> {
  return new Repeater<T>(async (push, stop) => {
    // The subscription ends with the viewer's access to the project (an error the client can tell apart).
    const access = context.watchProject?.(projectId);
    access?.signal.addEventListener('abort', () => stop(access.signal.reason), { once: true });
    let pending = true;
    let wakeWaiter: (() => void) | null = null;
    const wake = () => {
      pending = true;
      wakeWaiter?.();
      wakeWaiter = null;
    };
    const off = channels.map(([channel, key]) => context.hub.on(channel, key, wake));
    let stopped = false;
    void stop.then(() => {
      stopped = true;
    });
    try {
      while (!stopped) {
        if (!pending) {
          await Promise.race([stop, new Promise<void>((resolve) => (wakeWaiter = resolve))]);
          if (stopped) break;
        }
        pending = false;
        try {
          if (await round(push)) break;
        } catch (error) {
          // A read that fails after the client went away (a server shutting down) concerns nobody.
          if (stopped) break;
          throw error;
        }
      }
    } finally {
      access?.done();
      for (const unsubscribe of off) unsubscribe();
      stop();
    }
  });
}

const finished = (job: JobRow) => job.state === 'SUCCEEDED' || job.state === 'FAILED';

builder.subscriptionType({});
builder.subscriptionFields((t) => ({
  jobLog: t.field({
    type: [LogLineRef],
    description:
      'Output lines after afterSeq: first the stored ones, then new ones as they are written, in batches, with no gap ' +
      'and no duplicate. Ends when the job has finished and every line was sent. Resume with the last seq received.',
    args: { jobId: t.arg.id({ required: true }), afterSeq: t.arg.int({ defaultValue: 0 }) },
    authScopes: async (_root, args, context) => ({
      $any: { admin: true, member: { projectId: await projectIdOfJob(context, args.jobId), role: 'VIEWER' } },
    }),
    subscribe: async (_root, args, context) => {
      const jobId = parseId(args.jobId, 'jobId');
      const projectId = await projectIdOfJob(context, jobId);
      let last = args.afterSeq ?? 0;
      const channels: [string, string][] = [
        [CHANNELS.jobLog, String(jobId)],
        [CHANNELS.jobUpdated, String(jobId)],
      ];
      return followNotifications<LogLineRow[]>(context, projectId, channels, async (push) => {
        // Read the job's state before the lines: lines written before it finished are then all visible.
        const job = await loadJob(context, jobId);
        for (;;) {
          const lines = await readLog(context, jobId, last, LOG_PAGE);
          if (lines.length === 0) break;
          last = lines.at(-1)?.seq ?? last;
          await push(lines);
        }
        return finished(job);
      });
    },
    resolve: (lines) => lines,
  }),
  jobUpdated: t.field({
    type: JobRef,
    description: 'The job now, then again each time its state changes; ends when it has finished',
    args: { jobId: t.arg.id({ required: true }) },
    authScopes: async (_root, args, context) => ({
      $any: { admin: true, member: { projectId: await projectIdOfJob(context, args.jobId), role: 'VIEWER' } },
    }),
    subscribe: async (_root, args, context) => {
      const jobId = parseId(args.jobId, 'jobId');
      const projectId = await projectIdOfJob(context, jobId);
      let previous = '';
      return followNotifications<JobRow>(context, projectId, [[CHANNELS.jobUpdated, String(jobId)]], async (push) => {
        const job = await loadJob(context, jobId);
        const seen = `${job.state}/${job.attempts}/${job.lockedBy}`;
        if (seen !== previous) await push(job);
        previous = seen;
        return finished(job);
      });
    },
    resolve: (job) => job,
  }),
  ticketEvents: t.field({
    type: TicketEventRef,
    description:
      'Every ticket event (transition) in a project as it is recorded: from now on, or after afterEventId first ' +
      '(the last id a client received, to resume after a reconnect without a gap)',
    args: { projectId: t.arg.id({ required: true }), afterEventId: t.arg.id() },
    authScopes: (_root, args) => ({
      $any: { admin: true, member: { projectId: parseId(args.projectId, 'projectId'), role: 'VIEWER' } },
    }),
    subscribe: (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      let last: number | null = args.afterEventId == null ? null : Number(args.afterEventId);
      if (last !== null && !Number.isSafeInteger(last)) throw new BadUserInput('afterEventId', 'is not a valid id');
      const channels: [string, string][] = [[CHANNELS.ticketEvent, String(projectId)]];
      return followNotifications<TicketEventRow>(context, projectId, channels, async (push) => {
        if (last === null) {
          // Start after the newest event that exists now.
          const [newest] = await context.db
            .select({ id: ticketEvents.id })
            .from(ticketEvents)
            .where(eq(ticketEvents.projectId, projectId))
            .orderBy(desc(ticketEvents.id))
            .limit(1);
          last = newest?.id ?? 0;
        }
        for (;;) {
          const events = await context.db
            .select()
            .from(ticketEvents)
            .where(and(eq(ticketEvents.projectId, projectId), gt(ticketEvents.id, last)))
            .orderBy(asc(ticketEvents.id))
            .limit(500);
          for (const event of events) {
            last = event.id;
            await push(event);
          }
          if (events.length < 500) return false;
        }
      });
    },
    resolve: (event) => event,
  }),
}));

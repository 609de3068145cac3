import { CHANNELS, jobKind, jobLogLines, jobState, jobs, logStream, NotFound, ticketEvents } from '@slipway/schema';
import { and, asc, desc, eq, gt } from 'drizzle-orm';
import { Repeater } from 'graphql-yoga';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { parseId } from './ids.ts';
import { loadProject, ProjectRef } from './projects.ts';
import { loadTicket, TicketEventRef, TicketRef } from './tickets.ts';

type JobRow = typeof jobs.$inferSelect;
type LogLineRow = typeof jobLogLines.$inferSelect;

const JobKindEnum = builder.enumType('JobKind', { values: jobKind.enumValues });
const JobStateEnum = builder.enumType('JobState', { values: jobState.enumValues });
const LogStreamEnum = builder.enumType('LogStream', { values: logStream.enumValues });

export const JobRef = builder.objectRef<JobRow>('Job');
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

/** Wakes a waiting loop: wake-ups while it works fold into one more round, none is lost. */
function wakeable() {
  let pending = true;
  let resolveWaiter: (() => void) | null = null;
  return {
    wake: () => {
      pending = true;
      const resolve = resolveWaiter;
      resolveWaiter = null;
      resolve?.();
    },
    wait: async (stop: Promise<unknown>) => {
      if (!pending) {
        await Promise.race([
          stop,
          new Promise<void>((resolve) => {
            resolveWaiter = resolve;
          }),
        ]);
      }
      pending = false;
    },
  };
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
    subscribe: (_root, args, context) => {
      const jobId = parseId(args.jobId, 'jobId');
      return new Repeater<LogLineRow[]>(async (push, stop) => {
        const signal = wakeable();
        const off = [
          context.hub.on(CHANNELS.jobLog, String(jobId), signal.wake),
          context.hub.on(CHANNELS.jobUpdated, String(jobId), signal.wake),
        ];
        let last = args.afterSeq ?? 0;
        let stopped = false;
        void stop.then(() => {
          stopped = true;
        });
        try {
          while (!stopped) {
            await signal.wait(stop);
            if (stopped) break;
            // Read the job's state before the lines: lines written before it finished are then all visible.
            const job = await loadJob(context, jobId);
            for (;;) {
              const lines = await readLog(context, jobId, last, LOG_PAGE);
              if (lines.length === 0) break;
              last = lines.at(-1)?.seq ?? last;
              await push(lines);
            }
            if (finished(job)) break;
          }
        } finally {
          for (const o of off) o();
          stop();
        }
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
    subscribe: (_root, args, context) => {
      const jobId = parseId(args.jobId, 'jobId');
      return new Repeater<JobRow>(async (push, stop) => {
        const signal = wakeable();
        const off = context.hub.on(CHANNELS.jobUpdated, String(jobId), signal.wake);
        let stopped = false;
        void stop.then(() => {
          stopped = true;
        });
        let previous = '';
        try {
          while (!stopped) {
            await signal.wait(stop);
            if (stopped) break;
            const job = await loadJob(context, jobId);
            const seen = `${job.state}/${job.attempts}/${job.lockedBy}`;
            if (seen !== previous) await push(job);
            previous = seen;
            if (finished(job)) break;
          }
        } finally {
          off();
          stop();
        }
      });
    },
    resolve: (job) => job,
  }),
  ticketEvents: t.field({
    type: TicketEventRef,
    description: 'Every ticket event (transition) in a project from now on, as it is recorded',
    args: { projectId: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({
      $any: { admin: true, member: { projectId: parseId(args.projectId, 'projectId'), role: 'VIEWER' } },
    }),
    subscribe: (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      return new Repeater<typeof ticketEvents.$inferSelect>(async (push, stop) => {
        const signal = wakeable();
        const off = context.hub.on(CHANNELS.ticketEvent, String(projectId), signal.wake);
        let stopped = false;
        void stop.then(() => {
          stopped = true;
        });
        // Start after the newest event that exists now; then send each newer one, in order.
        const [newest] = await context.db
          .select({ id: ticketEvents.id })
          .from(ticketEvents)
          .where(eq(ticketEvents.projectId, projectId))
          .orderBy(desc(ticketEvents.id))
          .limit(1);
        let last = newest?.id ?? 0;
        try {
          while (!stopped) {
            await signal.wait(stop);
            if (stopped) break;
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
            if (events.length === 500) signal.wake();
          }
        } finally {
          off();
          stop();
        }
      });
    },
    resolve: (event) => event,
  }),
}));

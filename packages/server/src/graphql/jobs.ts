import {
  deployPreviews,
  jobKind,
  jobLogLines,
  jobState,
  jobs,
  logStream,
  NotFound,
  transferKind,
} from '@slipway/schema';
import { and, asc, eq, gt } from 'drizzle-orm';
import { Repeater } from 'graphql-yoga';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { parseId } from './ids.ts';
import { type LogBatch, logBatchOf } from './log-batch.ts';
import { loadProject, ProjectRef } from './projects.ts';

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
  /** A deletion of a file no release put there. */
  unknown?: boolean;
}
export const PathChangeRef = builder.objectRef<PathChange>('PreviewItem').implement({
  fields: (t) => ({
    path: t.exposeString('path'),
    change: t.exposeString('change', { description: 'ADDED, MODIFIED or DELETED' }),
    unknown: t.boolean({
      description: 'A deletion of a file that no release put there (an upload, a log, a file made by hand)',
      resolve: (c) => c.unknown === true,
    }),
  }),
});
const DeployPreviewRef = builder.objectRef<typeof deployPreviews.$inferSelect>('DeployPreview').implement({
  fields: (t) => ({
    targetName: t.exposeString('targetName'),
    items: t.field({ type: [PathChangeRef], resolve: (p) => p.items as PathChange[] }),
    unknownCount: t.exposeInt('unknownCount', {
      description: 'How many files no release put there the deploy would delete on this target',
    }),
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

const LogBatchRef = builder.objectRef<LogBatch>('LogBatch').implement({
  description: 'Output lines in the compact form: line i is texts[i], of stream streams[i], numbered seqs[i]',
  fields: (t) => ({
    firstSeq: t.exposeInt('firstSeq', { description: 'The seq of the first line' }),
    lastSeq: t.exposeInt('lastSeq', { description: 'The seq of the last line: resume after it' }),
    seqs: t.exposeIntList('seqs', {
      nullable: true,
      description:
        'Each line’s seq; null when they are consecutive (line i is firstSeq + i), as they nearly always are',
    }),
    streams: t.exposeString('streams', { description: 'One letter per line: O stdout, E stderr, S Slipway’s own' }),
    texts: t.exposeStringList('texts'),
    at: t.exposeString('at', { description: 'When the first line was written (ISO 8601)' }),
    offsets: t.exposeIntList('offsets', { description: 'When each line was written, in ms after `at`' }),
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
 * A subscription fed by one of the replica's shared feeds (one reader per job or project, however many follow):
 * it ends when the feed does, when the client goes away, or with FORBIDDEN once the viewer loses the project.
 */
export function followFeed<T>(
  context: Context,
  projectId: number,
  start: (signal: AbortSignal) => AsyncGenerator<T>,
): Repeater<T> {
  return new Repeater<T>(async (push, stop) => {
    const controller = new AbortController();
    void stop.then(() => controller.abort());
    const access = context.watchProject?.(projectId);
    access?.signal.addEventListener('abort', () => stop(access.signal.reason), { once: true });
    try {
      for await (const item of start(controller.signal)) await push(item);
      stop();
    } catch (error) {
      // A read that fails after the client went away concerns nobody; a slow subscriber is told why it ends.
      if (!controller.signal.aborted) stop(error);
    } finally {
      access?.done();
      controller.abort();
    }
  });
}

/** Who may follow a job's log (any member of its project), in either form. */
async function mayFollowLog(context: Context, jobId: string | number) {
  return {
    $any: { admin: true, member: { projectId: await projectIdOfJob(context, jobId), role: 'VIEWER' as const } },
  };
}

/** A job's log after `afterSeq` from the replica's shared feed: the batches both forms (jobLog, jobLogBatch) send. */
async function followJobLog(context: Context, id: string | number, afterSeq: number) {
  const jobId = parseId(id, 'jobId');
  const projectId = await projectIdOfJob(context, jobId);
  return followFeed(context, projectId, (signal) => context.feeds.jobLog(jobId, afterSeq, signal));
}

builder.subscriptionType({});
builder.subscriptionFields((t) => ({
  jobLog: t.field({
    type: [LogLineRef],
    description:
      'Output lines after afterSeq: first the stored ones, then new ones as they are written, in batches, with no gap ' +
      'and no duplicate. Ends when the job has finished and every line was sent. Resume with the last seq received.',
    args: { jobId: t.arg.id({ required: true }), afterSeq: t.arg.int({ defaultValue: 0 }) },
    authScopes: (_root, args, context) => mayFollowLog(context, args.jobId),
    subscribe: async (_root, args, context) =>
      (await followJobLog(context, args.jobId, args.afterSeq ?? 0)) as unknown as Repeater<LogLineRow[]>,
    resolve: (lines) => lines,
  }),
  jobLogBatch: t.field({
    type: LogBatchRef,
    description:
      'jobLog in the compact form a console asks for: the same lines, once each and in order (resume with afterSeq = ' +
      'the last lastSeq received), each batch with its fields once instead of once per line',
    args: { jobId: t.arg.id({ required: true }), afterSeq: t.arg.int({ defaultValue: 0 }) },
    authScopes: (_root, args, context) => mayFollowLog(context, args.jobId),
    subscribe: (_root, args, context) => followJobLog(context, args.jobId, args.afterSeq ?? 0),
    resolve: (lines) => logBatchOf(lines),
  }),
  jobsEnded: t.field({
    type: JobRef,
    description:
      'Each job of a project as it ends (a verification, a deploy, a staging…), from now on: what pages showing ' +
      'their results look again at',
    args: { projectId: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({
      $any: { admin: true, member: { projectId: parseId(args.projectId, 'projectId'), role: 'VIEWER' } },
    }),
    subscribe: (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const read = async (jobId: number): Promise<JobRow | null> =>
        (await context.db.select().from(jobs).where(eq(jobs.id, jobId)))[0] ?? null;
      return followFeed<JobRow>(context, projectId, (signal) => context.feeds.jobsEnded(projectId, read, signal));
    },
    resolve: (job) => job,
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
      const read = async (): Promise<JobRow | null> =>
        (await context.db.select().from(jobs).where(eq(jobs.id, jobId)))[0] ?? null;
      return followFeed<JobRow>(context, projectId, (signal) => context.feeds.jobState(jobId, read, signal));
    },
    resolve: (job) => job,
  }),
}));

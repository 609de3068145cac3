import { BadUserInput, enqueueJob, NotFound, releases, targets, type ticketChanges } from '@slipway/schema';
import { asc, desc, eq } from 'drizzle-orm';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { parseId } from './ids.ts';
import { JobRef } from './jobs.ts';
import { loadProject, ProjectRef, TargetRef } from './projects.ts';

/** Released versions (the ledger's tags), what turns one into another, and which one is live where. */

export type ReleaseRow = typeof releases.$inferSelect;
export const ReleaseRef = builder.objectRef<ReleaseRow>('Release');

export async function loadRelease(context: Context, id: number): Promise<ReleaseRow> {
  const [row] = await context.db.select().from(releases).where(eq(releases.id, id));
  if (!row) throw new NotFound('release', id);
  return row;
}

export const ChangeKindEnum = builder.enumType('ChangeKind', { values: ['ADDED', 'MODIFIED', 'DELETED'] as const });

/** A file one version changes against another (a ticket's, or between two releases). */
export const TicketChangeRef = builder.objectRef<typeof ticketChanges.$inferSelect>('TicketChange').implement({
  fields: (t) => ({
    path: t.exposeString('path'),
    change: t.expose('change', { type: ChangeKindEnum }),
    binary: t.exposeBoolean('binary', { description: 'A binary file: named, not diffed' }),
    diff: t.exposeString('diff', { nullable: true, description: 'Unified diff (text files up to 256 KiB)' }),
    truncated: t.exposeBoolean('truncated', { description: 'Too large (or too many files) to show a diff' }),
  }),
});

ReleaseRef.implement({
  description: 'A released version: the ledger tag v{number}; v0 is the baseline taken when the project was created',
  fields: (t) => ({
    id: t.exposeID('id'),
    number: t.exposeInt('number'),
    tag: t.string({ resolve: (r) => `v${r.number}` }),
    commit: t.exposeString('commit'),
    project: t.field({ type: ProjectRef, resolve: (r, _args, context) => loadProject(context, r.projectId) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    rolledBackAt: t.expose('rolledBackAt', { type: 'DateTime', nullable: true }),
    bad: t.boolean({
      description: 'A rollback took this version off the targets',
      resolve: (r) => r.rolledBackAt !== null,
    }),
    live: t.boolean({
      description:
        'Whether this is the version the first environment runs now (what the next release builds on; Release.liveIn: every environment it runs on)',
      resolve: async (r, _args, context) =>
        (await context.loaders.environments.load(r.projectId))[0]?.liveReleaseId === r.id,
    }),
  }),
});

builder.queryFields((t) => ({
  releases: t.field({
    type: [ReleaseRef],
    description: "A project's released versions, newest first",
    args: { projectId: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({
      $any: { admin: true, member: { projectId: parseId(args.projectId, 'projectId'), role: 'VIEWER' } },
    }),
    resolve: (_root, args, { db }) =>
      db
        .select()
        .from(releases)
        .where(eq(releases.projectId, parseId(args.projectId, 'projectId')))
        .orderBy(desc(releases.number)),
  }),
}));

builder.mutationFields((t) => ({
  compareReleases: t.field({
    type: JobRef,
    description:
      'Asks the executor what turns one release into another (files and diffs, from the ledger); read `comparison` from the job once it has finished',
    args: { fromReleaseId: t.arg.id({ required: true }), toReleaseId: t.arg.id({ required: true }) },
    authScopes: async (_root, args, context) => {
      const release = await loadRelease(context, parseId(args.fromReleaseId, 'fromReleaseId'));
      return { $any: { admin: true, member: { projectId: release.projectId, role: 'VIEWER' as const } } };
    },
    resolve: async (_root, args, context) => {
      const from = await loadRelease(context, parseId(args.fromReleaseId, 'fromReleaseId'));
      const to = await loadRelease(context, parseId(args.toReleaseId, 'toReleaseId'));
      if (to.projectId !== from.projectId)
        throw new BadUserInput('toReleaseId', 'is not a release of the same project');
      const project = await loadProject(context, from.projectId);
      return enqueueJob(context.db, {
        projectId: project.id,
        kind: 'COMPARE',
        pool: project.pool,
        payload: { fromReleaseId: from.id, toReleaseId: to.id },
      });
    },
  }),
}));

interface Comparison {
  fromReleaseId: number;
  toReleaseId: number;
  changes: (typeof ticketChanges.$inferSelect)[];
}

const ComparisonRef = builder.objectRef<Comparison>('Comparison').implement({
  description: 'What turns one release into another: files added, modified and deleted, with diffs of text files',
  fields: (t) => ({
    from: t.field({ type: ReleaseRef, resolve: (c, _args, context) => loadRelease(context, c.fromReleaseId) }),
    to: t.field({ type: ReleaseRef, resolve: (c, _args, context) => loadRelease(context, c.toReleaseId) }),
    changes: t.field({ type: [TicketChangeRef], resolve: (c) => c.changes }),
  }),
});

builder.objectField(JobRef, 'comparison', (t) =>
  t.field({
    type: ComparisonRef,
    nullable: true,
    description: 'For a COMPARE job that finished: what differs between the two releases',
    resolve: (job) => (job.kind === 'COMPARE' && job.result ? (job.result as Comparison) : null),
  }),
);

builder.objectField(ProjectRef, 'liveRelease', (t) =>
  t.field({
    type: ReleaseRef,
    nullable: true,
    description:
      'The version the first environment runs, which the next release builds on (v0, the baseline, until the first release; before the first deploy no target runs it: see Release.targets; every environment: Project.environments)',
    resolve: async (project, _args, context) => {
      const first = (await context.loaders.environments.load(project.id))[0];
      return first?.liveReleaseId ? loadRelease(context, first.liveReleaseId) : null;
    },
  }),
);

builder.objectField(ReleaseRef, 'targets', (t) =>
  t.field({
    type: [TargetRef],
    description:
      'The targets Slipway last made this version live on (none for a baseline no deploy has sent anywhere yet)',
    resolve: (release, _args, { db }) =>
      db
        .select()
        .from(targets)
        .where(eq(targets.releaseId, release.id))
        .orderBy(asc(targets.position), asc(targets.name)),
  }),
);

builder.objectField(TargetRef, 'release', (t) =>
  t.field({
    type: ReleaseRef,
    nullable: true,
    description: 'The version Slipway last made live on this target; null until its first deploy',
    resolve: (target, _args, context) => (target.releaseId ? loadRelease(context, target.releaseId) : null),
  }),
);

import { BadUserInput, enqueueJob, jobs, targetVerifications, verificationState } from '@slipway/schema';
import { and, eq, inArray } from 'drizzle-orm';
import { builder } from './builder.ts';
import { parseId } from './ids.ts';
import { JobRef } from './jobs.ts';
import { loadProject, TargetRef } from './projects.ts';
import { ChangeKindEnum, loadRelease, ReleaseRef } from './tickets.ts';

type VerificationRow = Omit<typeof targetVerifications.$inferSelect, 'checkedAt'> & { checkedAt: Date | null };

interface DriftedPath {
  path: string;
  change: 'ADDED' | 'MODIFIED' | 'DELETED';
  diff: string | null;
}

const VerificationStateEnum = builder.enumType('VerificationState', {
  description:
    'IN_SYNC: the target holds exactly its release; DRIFTED: something differs; UNREACHABLE: it could not be ' +
    'checked; UNKNOWN: not verified yet (or Slipway never deployed to it)',
  values: verificationState.enumValues,
});

const DriftedPathRef = builder.objectRef<DriftedPath>('DriftedPath').implement({
  description: 'A path that differs on a target from its release (relative to the target path; atomic: to current)',
  fields: (t) => ({
    path: t.exposeString('path'),
    change: t.field({
      type: ChangeKindEnum,
      description: 'ADDED: only the target has it; DELETED: the target lacks it; MODIFIED: content, mode, link or type',
      resolve: (d) => d.change,
    }),
    diff: t.exposeString('diff', {
      nullable: true,
      description: 'Unified diff from the release to the target, for a modified text file up to 256 KiB',
    }),
  }),
});

const TargetVerificationRef = builder.objectRef<VerificationRow>('TargetVerification').implement({
  description: 'What the last verification found on a target',
  fields: (t) => ({
    state: t.expose('state', { type: VerificationStateEnum }),
    checkedAt: t.expose('checkedAt', { type: 'DateTime', nullable: true }),
    driftedCount: t.exposeInt('driftedCount', { description: 'All the paths that differ (the list keeps 1,000)' }),
    drifted: t.field({ type: [DriftedPathRef], resolve: (v) => v.drifted as DriftedPath[] }),
    error: t.exposeString('error', {
      nullable: true,
      description: 'Why the target is UNREACHABLE or UNKNOWN, or that current points at the wrong release',
    }),
    currentRelease: t.exposeString('currentRelease', {
      nullable: true,
      description: 'Atomic targets: the release `current` points at',
    }),
    release: t.field({
      type: ReleaseRef,
      nullable: true,
      description: 'The release the target was compared with',
      resolve: (v, _args, context) => (v.releaseId ? loadRelease(context, v.releaseId) : null),
    }),
    job: t.field({
      type: JobRef,
      nullable: true,
      description: 'The job that checked it (its log says how)',
      resolve: async (v, _args, { db }) =>
        v.jobId ? ((await db.select().from(jobs).where(eq(jobs.id, v.jobId)))[0] ?? null) : null,
    }),
  }),
});

builder.objectField(TargetRef, 'verification', (t) =>
  t.field({
    type: TargetVerificationRef,
    description: 'Whether the target holds exactly the release recorded for it, as last verified',
    resolve: async (target, _args, { db }) => {
      const [row] = await db.select().from(targetVerifications).where(eq(targetVerifications.targetId, target.id));
      return (
        row ?? {
          targetId: target.id,
          jobId: null,
          state: 'UNKNOWN' as const,
          releaseId: null,
          currentRelease: null,
          drifted: [],
          driftedCount: 0,
          error: null,
          checkedAt: null,
        }
      );
    },
  }),
);

builder.mutationField('verifyTargets', (t) =>
  t.field({
    type: JobRef,
    description:
      'Compares every target of the project with its recorded release (a VERIFY job; one already waiting is answered)',
    args: { projectId: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({
      $any: { admin: true, member: { projectId: parseId(args.projectId, 'projectId'), role: 'LEAD' } },
    }),
    resolve: async (_root, args, context) => {
      const project = await loadProject(context, parseId(args.projectId, 'projectId'));
      if (!project.ready) throw new BadUserInput('projectId', 'the project is not ready yet');
      return context.db.transaction(async (tx) => {
        const [waiting] = await tx
          .select()
          .from(jobs)
          .where(and(eq(jobs.projectId, project.id), eq(jobs.kind, 'VERIFY'), inArray(jobs.state, ['QUEUED'])))
          .for('update');
        if (waiting) return waiting;
        return enqueueJob(tx, {
          projectId: project.id,
          kind: 'VERIFY',
          pool: project.pool,
          payload: { requestedBy: context.viewer?.id },
        });
      });
    },
  }),
);

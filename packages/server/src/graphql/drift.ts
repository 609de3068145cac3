import {
  BadUserInput,
  enqueueJob,
  type HostKeyCheck,
  jobs,
  NotFound,
  type TargetCheck,
  targets,
  targetVerifications,
  verificationState,
} from '@slipway/schema';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { builder } from './builder.ts';
import { parseId } from './ids.ts';
import { JobRef } from './jobs.ts';
import { loadProject, TargetRef } from './projects.ts';
import { ChangeKindEnum, loadRelease, ReleaseRef } from './releases.ts';

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
      'Compares every target of the project (or of one environment) with its recorded release (a VERIFY job; one already waiting is answered)',
    args: { projectId: t.arg.id({ required: true }), environmentId: t.arg.id() },
    authScopes: (_root, args) => ({
      $any: { admin: true, member: { projectId: parseId(args.projectId, 'projectId'), role: 'LEAD' } },
    }),
    resolve: async (_root, args, context) => {
      const project = await loadProject(context, parseId(args.projectId, 'projectId'));
      if (!project.ready) throw new BadUserInput('projectId', 'the project is not ready yet');
      const environmentId = args.environmentId ? parseId(args.environmentId, 'environmentId') : null;
      if (
        environmentId !== null &&
        !(await context.loaders.environments.load(project.id)).some((e) => e.id === environmentId)
      )
        throw new BadUserInput(
          'environmentId',
          `environment ${environmentId} is not one of the project's environments`,
        );
      return context.db.transaction(async (tx) => {
        const [waiting] = await tx
          .select()
          .from(jobs)
          .where(
            and(
              eq(jobs.projectId, project.id),
              eq(jobs.kind, 'VERIFY'),
              inArray(jobs.state, ['QUEUED']),
              environmentId === null
                ? sql`${jobs.payload}->>'environmentId' is null`
                : sql`${jobs.payload}->>'environmentId' = ${String(environmentId)}`,
            ),
          )
          .for('update');
        if (waiting) return waiting;
        return enqueueJob(tx, {
          projectId: project.id,
          kind: 'VERIFY',
          pool: project.pool,
          payload: { requestedBy: context.viewer?.id, ...(environmentId === null ? {} : { environmentId }) },
        });
      });
    },
  }),
);

const HostKeyCheckRef = builder.objectRef<HostKeyCheck>('HostKeyCheck').implement({
  description: 'The host key a target showed, against the known_hosts Slipway uses for it',
  fields: (t) => ({
    type: t.exposeString('type', { description: 'ED25519, ECDSA or RSA' }),
    fingerprint: t.exposeString('fingerprint', { description: '"SHA256:…", as ssh-keygen -l prints it' }),
    known: t.exposeBoolean('known', { description: 'Whether known_hosts holds this key for the host' }),
    changedFrom: t.exposeString('changedFrom', {
      nullable: true,
      description: 'The fingerprint known for the host before, when it now shows another key: the host key changed',
    }),
  }),
});

const TargetCheckRef = builder.objectRef<TargetCheck>('TargetCheck').implement({
  description:
    'A target checked before a deploy needs it (testTarget). For a local path only rsync and the path are checked; a null is a check not made because an earlier one failed',
  fields: (t) => ({
    target: t.field({
      type: TargetRef,
      nullable: true,
      resolve: async (check, _args, { db }) =>
        (await db.select().from(targets).where(eq(targets.id, check.targetId)))[0] ?? null,
    }),
    reachable: t.exposeBoolean('reachable', { nullable: true, description: 'ssh reached the host' }),
    hostKeyKnown: t.exposeBoolean('hostKeyKnown', {
      nullable: true,
      description: "The host key is the one in known_hosts (the project's knownHostsPath, else Slipway's own)",
    }),
    hostKey: t.field({
      type: HostKeyCheckRef,
      nullable: true,
      description:
        'The host key the target shows (null: a local path, or nothing answered); trust it with trustHostKey',
      resolve: (check) => check.hostKey ?? null,
    }),
    signedIn: t.exposeBoolean('signedIn', { nullable: true, description: 'The server accepted the key' }),
    rsyncPresent: t.exposeBoolean('rsyncPresent', { nullable: true, description: 'rsync is installed there' }),
    pathWritable: t.exposeBoolean('pathWritable', {
      nullable: true,
      description: 'The path is writable (or can be created) by the deploy user',
    }),
    ok: t.exposeBoolean('ok', { description: 'Every check passed: a deploy can reach and write the target' }),
    problem: t.exposeString('problem', { nullable: true, description: 'What failed first, in words to act on' }),
  }),
});

builder.objectField(JobRef, 'targetCheck', (t) =>
  t.field({
    type: TargetCheckRef,
    nullable: true,
    description: 'For a TEST_TARGET job that finished: what it found',
    resolve: (job) => (job.kind === 'TEST_TARGET' && job.result ? (job.result as TargetCheck) : null),
  }),
);

builder.mutationFields((t) => ({
  testTarget: t.field({
    type: JobRef,
    description:
      'Checks a target before a deploy needs it: ssh reachable, host key known, key accepted, rsync present, path writable. The job’s targetCheck and log say what failed',
    authScopes: async (_root, args, context) => {
      const [target] = await context.db
        .select({ projectId: targets.projectId })
        .from(targets)
        .where(eq(targets.id, parseId(args.id, 'id')));
      return target
        ? { $any: { admin: true, member: { projectId: target.projectId, role: 'LEAD' as const } } }
        : { admin: true };
    },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = parseId(args.id, 'id');
      const [target] = await context.db.select().from(targets).where(eq(targets.id, id));
      if (!target) throw new NotFound('target', id);
      const project = await loadProject(context, target.projectId);
      return enqueueJob(context.db, {
        projectId: project.id,
        kind: 'TEST_TARGET',
        pool: project.pool,
        payload: { targetId: id, requestedBy: context.viewer?.id },
      });
    },
  }),
}));

import {
  activeFreeze,
  approvals,
  BadUserInput,
  checkPromotion,
  checkRevert,
  decide,
  deployJob,
  deployPreviews,
  type EnvironmentRow,
  enqueueJob,
  environments,
  environmentsOf,
  firstEnvironment,
  InvalidTransition,
  jobs,
  minimumRole,
  multilineText,
  NotFound,
  OPEN_STATES,
  parseInput,
  pathsConflict,
  projects,
  recordEvent,
  recordTransition,
  SlipwayError,
  sharedPathOf,
  startDeploy,
  type TicketAction,
  type TicketRow,
  type Tx,
  targets,
  ticketPaths,
  tickets,
} from '@slipway/schema';
import { and, asc, count, eq, gt, inArray, ne, sql } from 'drizzle-orm';
import { z } from 'zod';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { parseId } from './ids.ts';
import { JobRef } from './jobs.ts';
import { loadProject, type ProjectRow } from './projects.ts';
import { loadRelease } from './releases.ts';
import { loadTicket, projectIdOfTicket, TicketRef } from './tickets.ts';

// What people do to tickets: file them, move them through the workflow, ask for rollbacks and repairs, schedule
// deploys. The ticket type and its reads are in tickets.ts.

/** A ticket's reason, and a comment on a transition: text of up to 4,000 characters, lines and tabs allowed. */
const reason = multilineText(4000)
  .transform((s) => s.trim())
  .refine((s) => s.length > 0, { message: 'must not be empty' })
  // biome-ignore lint/suspicious/noControlCharactersInRegex: tabs and newlines are fine, other control characters are not
  .refine((s) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), { message: 'must not contain control characters' });
const comment = reason.optional();

/** Rule 3: refuses paths that overlap an open ticket's; the caller holds the project row lock. */
async function assertPathsFree(tx: Tx, projectId: number, paths: string[], exceptTicketId?: number): Promise<void> {
  const open = await tx
    .select({ id: tickets.id, paths: tickets.paths, state: tickets.state })
    .from(tickets)
    .where(
      and(
        eq(tickets.projectId, projectId),
        inArray(tickets.state, [...OPEN_STATES]),
        exceptTicketId ? ne(tickets.id, exceptTicketId) : undefined,
      ),
    );
  for (const other of open) {
    for (const held of other.paths) {
      const mine = paths.find((p) => pathsConflict(p, held));
      if (mine !== undefined) {
        throw new SlipwayError(
          'PATH_LOCKED',
          `${mine} overlaps ${held}, held by ticket #${other.id} (${other.state})`,
          { path: mine, heldPath: held, heldBy: other.id, heldState: other.state },
        );
      }
    }
  }
}

/** A shared path belongs to the servers: a ticket can never ship it (rsync would leave it out anyway). */
function assertNotShared(project: ProjectRow, paths: string[], field: string): void {
  for (const [i, path] of paths.entries()) {
    const shared = sharedPathOf(path, project.sharedPaths);
    if (shared !== undefined)
      throw new BadUserInput(
        `${field}.${i}`,
        `${path} is a shared path of the project (${shared}): it belongs to the servers and is never shipped`,
      );
  }
}

async function loadProjectIn(tx: Tx, projectId: number): Promise<ProjectRow> {
  const [project] = await tx.select().from(projects).where(eq(projects.id, projectId));
  if (!project) throw new NotFound('project', projectId);
  return project;
}

/** The project, locked against concurrent changes, for work that makes a ticket: an archived one takes none. */
async function lockProject(tx: Tx, projectId: number): Promise<ProjectRow> {
  const [project] = await tx.select().from(projects).where(eq(projects.id, projectId)).for('update');
  if (!project) throw new NotFound('project', projectId);
  if (project.archivedAt) throw new BadUserInput('projectId', 'the project is archived: an admin can unarchive it');
  return project;
}

/** Approvals a ticket needs: a promotion, its environment's requiredApprovals; any other, the project's. */
async function approvalsNeeded(tx: Tx, ticket: TicketRow, project: ProjectRow): Promise<number> {
  if (ticket.kind !== 'PROMOTION') return project.requiredApprovals;
  const [environment] = await tx
    .select({ requiredApprovals: environments.requiredApprovals })
    .from(environments)
    .where(eq(environments.id, ticket.environmentId));
  return environment?.requiredApprovals ?? project.requiredApprovals;
}

/**
 * The environment a rollback or repair is for: the one named (of the project), else the project's only one; a
 * project with more than one must name it.
 */
async function environmentNamed(
  tx: Tx,
  projectId: number,
  environmentId: string | number | null | undefined,
  field = 'environmentId',
): Promise<EnvironmentRow> {
  const all = await environmentsOf(tx, projectId);
  if (environmentId == null) {
    if (all.length === 1) return all[0] as EnvironmentRow;
    throw new BadUserInput(field, 'is required when the project has more than one environment');
  }
  const id = parseId(environmentId, field);
  const found = all.find((e) => e.id === id);
  if (!found) throw new BadUserInput(field, `environment ${id} is not one of the project's environments`);
  return found;
}

/**
 * Files a ticket that asks for something (a rollback, a repair, a promotion, a revert), with its audit event: its comment is
 * the requester's reason (what the audit shows beside the request).
 */
async function fileTicket(
  tx: Tx,
  input: Pick<
    typeof tickets.$inferInsert,
    | 'projectId'
    | 'environmentId'
    | 'kind'
    | 'state'
    | 'reason'
    | 'authorId'
    | 'releaseId'
    | 'repairTargetIds'
    | 'paths'
    | 'revertsTicketId'
  > & { action: TicketAction },
): Promise<TicketRow> {
  const { action, ...values } = input;
  const [ticket] = await tx
    .insert(tickets)
    .values({ paths: [], ...values })
    .returning();
  if (!ticket) throw new Error('insert returned no row');
  await recordEvent(tx, {
    ticketId: ticket.id,
    projectId: ticket.projectId,
    action,
    from: null,
    to: ticket.state,
    actorId: input.authorId,
    comment: ticket.reason,
  });
  return ticket;
}

interface ActOptions {
  comment?: string | null;
  reason?: string;
  paths?: string[];
  /** What the job the transition enqueues is told (e.g. `{ fullSync: true }`). */
  payload?: Record<string, unknown>;
}

/** Every person's transition: lock the ticket, let the workflow table decide, write state + audit + job at once. */
async function act(context: Context, id: string | number, action: TicketAction, options: ActOptions = {}) {
  const ticketId = parseId(id, 'id');
  const viewer = context.viewer;
  if (!viewer) throw new SlipwayError('UNAUTHENTICATED', 'sign in first');
  const commentText = parseInput(comment, options.comment ?? undefined, 'comment') ?? null;
  // Everything read outside the row locks is read before the transaction: a transaction never waits for a
  // second pooled connection (under load that would exhaust the pool).
  const projectId = (await loadTicket(context, ticketId)).projectId;
  const role = await context.roleIn(projectId);
  return context.db.transaction(async (tx) => {
    const [locked] = await tx.select().from(tickets).where(eq(tickets.id, ticketId)).for('update');
    if (!locked) throw new NotFound('ticket', ticketId);
    const project = action === 'RESUBMIT' ? await lockProject(tx, projectId) : await loadProjectIn(tx, projectId);
    const transition = decide(action, locked, { userId: viewer.id, role }, project);
    if (transition.comment === 'required' && !commentText) throw new BadUserInput('comment', 'is required');
    if (locked.state === 'DEPLOY_FAILED') {
      // A cancel under way (its REVERT job) decides the ticket: nothing else may start meanwhile.
      const [reverting] = await tx
        .select({ id: jobs.id })
        .from(jobs)
        .where(and(eq(jobs.ticketId, ticketId), eq(jobs.kind, 'REVERT'), inArray(jobs.state, ['QUEUED', 'RUNNING'])));
      if (reverting)
        throw new SlipwayError(
          'INVALID_TRANSITION',
          'the ticket is being cancelled: its targets are going back to the live version',
          { action, state: locked.state, reason: 'REVERTING' },
        );
    }
    const base = {
      ticketId,
      projectId: project.id,
      action,
      from: locked.state,
      to: transition.to,
      actorId: viewer.id,
      comment: commentText,
    };

    if (action === 'APPROVE') {
      const inserted = await tx
        .insert(approvals)
        .values({ ticketId, approverId: viewer.id, comment: commentText })
        .onConflictDoNothing()
        .returning({ id: approvals.id });
      if (inserted.length === 0) throw new InvalidTransition(action, locked.state);
      const [{ n } = { n: 0 }] = await tx
        .select({ n: count() })
        .from(approvals)
        .where(eq(approvals.ticketId, ticketId));
      if (n < (await approvalsNeeded(tx, locked, project))) {
        await recordEvent(tx, { ...base, to: locked.state });
        return locked;
      }
      return recordTransition(tx, base);
    }

    if (action === 'RESUBMIT') {
      const paths = options.paths ? parseInput(ticketPaths, options.paths, 'paths') : locked.paths;
      assertNotShared(project, paths, 'paths');
      const newReason = options.reason !== undefined ? parseInput(reason, options.reason, 'reason') : locked.reason;
      await assertPathsFree(tx, project.id, paths, ticketId);
      await tx.delete(approvals).where(eq(approvals.ticketId, ticketId));
      const ticket = await recordTransition(tx, {
        ...base,
        set: { paths, reason: newReason, stagedRevision: null, stagedFingerprint: null, testedFingerprint: null },
      });
      await enqueueJob(tx, { projectId: project.id, ticketId, kind: 'STAGE', pool: project.pool });
      return ticket;
    }

    if (action === 'DEPLOY' || action === 'RETRY_DEPLOY') {
      return startDeploy(tx, {
        ...base,
        ticket: locked,
        project,
        kind: deployJob(transition),
        payload: options.payload,
        say: (throughFreeze) => ({
          comment: throughFreeze
            ? `${commentText ?? ''} (through the freeze, by an admin's override)`.trim()
            : commentText,
        }),
      });
    }

    const ticket = await recordTransition(tx, {
      ...base,
      set:
        action === 'PASS_TEST'
          ? { testedFingerprint: locked.stagedFingerprint }
          : // Cancelled by hand: a schedule has nothing left to start.
            locked.scheduledAt && action === 'CANCEL'
            ? { scheduledAt: null, scheduledById: null }
            : undefined,
    });
    if (locked.scheduledAt && action === 'CANCEL')
      await tx
        .delete(jobs)
        .where(and(eq(jobs.ticketId, ticketId), eq(jobs.kind, 'DEPLOY_AT'), eq(jobs.state, 'QUEUED')));
    if (transition.enqueues) {
      await enqueueJob(tx, {
        projectId: project.id,
        ticketId,
        kind: transition.enqueues,
        pool: project.pool,
        payload: options.payload,
      });
    }
    return ticket;
  });
}

/** How long a deploy waits for an executor to look for unknown files; past it, the deploy job looks on each target. */
const UNKNOWN_CHECK_MS = 60_000;
/** Unknown files a refusal names per target (the count is whole). */
const UNKNOWN_NAMED = 20;

interface UnknownFilesOnTarget {
  name: string;
  count: number;
  paths: string[];
}

/**
 * Nothing Slipway did not deploy is deleted silently: before a deploy that may sync a target in full — its first
 * deploy, a full sync, a repair — the executor is asked whether that would delete files no release put there (a PREVIEW
 * job that checks only that), and the deploy is refused with UNKNOWN_FILES naming them, per target, unless the person
 * asked for it (deleteUnknown). The deploy job looks again on each target before it deletes anything, so files that
 * appear in between are not deleted either; an executor that does not answer in time leaves the check to it.
 */
async function refuseUnknownFiles(
  context: Context,
  action: 'DEPLOY' | 'RETRY_DEPLOY',
  ticketId: number,
  fullSync: boolean,
): Promise<void> {
  const viewer = context.viewer;
  if (!viewer) return;
  const ticket = await loadTicket(context, ticketId);
  const project = await loadProject(context, ticket.projectId);
  // A deploy the workflow or a freeze refuses anyway is refused by act(), without asking the targets.
  try {
    decide(action, ticket, { userId: viewer.id, role: await context.roleIn(project.id) }, project);
  } catch {
    return;
  }
  const [environment] = await context.db.select().from(environments).where(eq(environments.id, ticket.environmentId));
  if (activeFreeze(project, environment) && !ticket.freezeOverride) return;
  // The targets of the ticket's environment, the ones the deploy would go to.
  const all = await context.db.select().from(targets).where(eq(targets.environmentId, ticket.environmentId));
  const repairing = new Set(ticket.repairTargetIds ?? []);
  const pending =
    ticket.kind === 'REPAIR'
      ? all.filter((t) => repairing.has(t.id))
      : all.filter((t) => ticket.releaseId === null || t.releaseId !== ticket.releaseId);
  const full =
    ticket.kind === 'REPAIR' || fullSync || project.alwaysFullSync || pending.some((t) => t.releaseId === null);
  if (!full || pending.length === 0) return;
  const check = await enqueueJob(context.db, {
    projectId: project.id,
    ticketId,
    kind: 'PREVIEW',
    pool: project.pool,
    payload: { fullSync, check: 'UNKNOWN_FILES' },
  });
  const ended = await finishedJob(context, check.id, UNKNOWN_CHECK_MS);
  if (ended?.state !== 'SUCCEEDED') return;
  const found = await context.db
    .select()
    .from(deployPreviews)
    .where(and(eq(deployPreviews.jobId, check.id), gt(deployPreviews.unknownCount, 0)))
    .orderBy(asc(deployPreviews.targetName));
  if (found.length === 0) return;
  const named: UnknownFilesOnTarget[] = found.map((row) => ({
    name: row.targetName,
    count: row.unknownCount,
    paths: (row.items as { path: string }[]).slice(0, UNKNOWN_NAMED).map((item) => item.path),
  }));
  throw new SlipwayError(
    'UNKNOWN_FILES',
    `this deploy would delete files that no release put there (${named
      .map((t) => `${t.name}: ${t.count}, e.g. ${t.paths.slice(0, 3).join(', ')}`)
      .join('; ')}): deploy with deleteUnknown to delete them, or make their directories shared paths to keep them`,
    { targets: named, jobId: String(check.id) },
  );
}

/** The job once it has finished, or null when it has not within `timeoutMs`. */
async function finishedJob(context: Context, jobId: number, timeoutMs: number) {
  const signal = AbortSignal.timeout(timeoutMs);
  const read = async () => (await context.db.select().from(jobs).where(eq(jobs.id, jobId)))[0] ?? null;
  try {
    for await (const job of context.feeds.jobState(jobId, read, signal))
      if (job.state === 'SUCCEEDED' || job.state === 'FAILED') return job;
  } catch (error) {
    if (!signal.aborted) throw error;
  }
  return null;
}

const SubmitTicketInput = builder.inputType('SubmitTicketInput', {
  fields: (t) => ({
    projectId: t.id({ required: true }),
    reason: t.string({ required: true }),
    paths: t.stringList({ required: true, description: 'Paths relative to the working copy, e.g. "www/index.php"' }),
  }),
});

const submitInput = z.object({ projectId: z.union([z.string(), z.number()]), reason, paths: ticketPaths });

/** deployTicket and retryDeploy: refused when they would delete unknown files, unless asked to; then the transition. */
async function deploy(
  context: Context,
  action: 'DEPLOY' | 'RETRY_DEPLOY',
  args: { id: string; fullSync?: boolean | null; deleteUnknown?: boolean | null },
) {
  const fullSync = args.fullSync === true;
  const deleteUnknown = args.deleteUnknown === true;
  if (!deleteUnknown) await refuseUnknownFiles(context, action, parseId(args.id, 'id'), fullSync);
  const payload = { ...(fullSync ? { fullSync } : {}), ...(deleteUnknown ? { deleteUnknown } : {}) };
  return act(context, args.id, action, { payload: Object.keys(payload).length > 0 ? payload : undefined });
}

/** The scope of a ticket mutation: the least role any rule of the action needs, in the ticket's project. */
const ticketScope =
  (action: TicketAction) => async (_root: unknown, args: { id: string | number }, context: Context) => ({
    member: { projectId: await projectIdOfTicket(context, args.id), role: minimumRole(action) },
  });

builder.mutationFields((t) => ({
  submitTicket: t.field({
    type: TicketRef,
    description: 'Files a release ticket; the executor then updates staging (PENDING_STAGING → AWAITING_TEST)',
    args: { input: t.arg({ type: SubmitTicketInput, required: true }) },
    authScopes: (_root, args) => ({
      member: { projectId: parseId(args.input.projectId, 'input.projectId'), role: minimumRole('SUBMIT') },
    }),
    resolve: async (_root, args, context) => {
      const input = parseInput(submitInput, args.input, 'input');
      const projectId = parseId(input.projectId, 'input.projectId');
      const viewer = context.viewer as { id: number };
      const role = await context.roleIn(projectId);
      return context.db.transaction(async (tx) => {
        const project = await lockProject(tx, projectId);
        decide('SUBMIT', { kind: 'RELEASE', state: null, authorId: null }, { userId: viewer.id, role }, project);
        assertNotShared(project, input.paths, 'input.paths');
        await assertPathsFree(tx, projectId, input.paths);
        // A release deploys to the first environment, and is built on what runs there.
        const environment = await firstEnvironment(tx, projectId);
        const [ticket] = await tx
          .insert(tickets)
          .values({
            projectId,
            environmentId: environment.id,
            kind: 'RELEASE',
            state: 'PENDING_STAGING',
            reason: input.reason,
            paths: input.paths,
            authorId: viewer.id,
          })
          .returning();
        if (!ticket) throw new Error('insert returned no row');
        await recordEvent(tx, {
          ticketId: ticket.id,
          projectId,
          action: 'SUBMIT',
          from: null,
          to: ticket.state,
          actorId: viewer.id,
          comment: null,
        });
        await enqueueJob(tx, { projectId, ticketId: ticket.id, kind: 'STAGE', pool: project.pool });
        return ticket;
      });
    },
  }),
  resubmitTicket: t.field({
    type: TicketRef,
    description: 'Stages a returned or failed ticket again, optionally with new paths or reason; clears approvals',
    args: {
      id: t.arg.id({ required: true }),
      reason: t.arg.string(),
      paths: t.arg.stringList(),
      comment: t.arg.string({ description: 'Said in the audit trail (what changed since it came back)' }),
    },
    authScopes: ticketScope('RESUBMIT'),
    resolve: (_root, args, context) =>
      act(context, args.id, 'RESUBMIT', {
        reason: args.reason ?? undefined,
        paths: args.paths ?? undefined,
        comment: args.comment,
      }),
  }),
  returnTicket: t.field({
    type: TicketRef,
    args: { id: t.arg.id({ required: true }), comment: t.arg.string() },
    authScopes: ticketScope('RETURN'),
    resolve: (_root, args, context) => act(context, args.id, 'RETURN', { comment: args.comment }),
  }),
  passTest: t.field({
    type: TicketRef,
    description: 'Records that staging was tested; what was staged is what will be deployed (rule 4)',
    args: { id: t.arg.id({ required: true }), comment: t.arg.string() },
    authScopes: ticketScope('PASS_TEST'),
    resolve: (_root, args, context) => act(context, args.id, 'PASS_TEST', { comment: args.comment }),
  }),
  approveTicket: t.field({
    type: TicketRef,
    description: 'Counts an approval; the ticket is APPROVED once the project’s required approvals are reached',
    args: { id: t.arg.id({ required: true }), comment: t.arg.string() },
    authScopes: ticketScope('APPROVE'),
    resolve: (_root, args, context) => act(context, args.id, 'APPROVE', { comment: args.comment }),
  }),
  rejectTicket: t.field({
    type: TicketRef,
    args: { id: t.arg.id({ required: true }), comment: t.arg.string({ required: true }) },
    authScopes: ticketScope('REJECT'),
    resolve: (_root, args, context) => act(context, args.id, 'REJECT', { comment: args.comment }),
  }),
  deployTicket: t.field({
    type: TicketRef,
    description:
      'Deploys an approved ticket. Targets on a known version get only the files that changed since it, unless ' +
      'fullSync (or the project’s alwaysFullSync) sends every file to every target. A deploy that would delete files ' +
      'no release put there (a first deploy, a full sync, a repair) is refused with UNKNOWN_FILES ' +
      '(extensions.targets: name, count, the first 20 paths) unless deleteUnknown',
    args: {
      id: t.arg.id({ required: true }),
      fullSync: t.arg.boolean({ defaultValue: false }),
      deleteUnknown: t.arg.boolean({
        defaultValue: false,
        description: 'Lets a full sync delete files on the targets that no release put there',
      }),
    },
    authScopes: ticketScope('DEPLOY'),
    resolve: (_root, args, context) => deploy(context, 'DEPLOY', args),
  }),
  retryDeploy: t.field({
    type: TicketRef,
    description:
      'Deploys a failed ticket again to the targets not yet on its version (fullSync: every file; deleteUnknown: as deployTicket)',
    args: {
      id: t.arg.id({ required: true }),
      fullSync: t.arg.boolean({ defaultValue: false }),
      deleteUnknown: t.arg.boolean({ defaultValue: false }),
    },
    authScopes: ticketScope('RETRY_DEPLOY'),
    resolve: (_root, args, context) => deploy(context, 'RETRY_DEPLOY', args),
  }),
  cancelTicket: t.field({
    type: TicketRef,
    args: { id: t.arg.id({ required: true }), comment: t.arg.string() },
    authScopes: ticketScope('CANCEL'),
    resolve: (_root, args, context) => act(context, args.id, 'CANCEL', { comment: args.comment }),
  }),
  overrideFreeze: t.field({
    type: TicketRef,
    description:
      'Lets this ticket deploy once while its project is frozen (admins; the reason goes in the audit trail)',
    args: { id: t.arg.id({ required: true }), reason: t.arg.string({ required: true }) },
    authScopes: { admin: true },
    resolve: async (_root, args, context) => {
      const ticketId = parseId(args.id, 'id');
      const text = parseInput(reason, args.reason, 'reason');
      return context.db.transaction(async (tx) => {
        const [ticket] = await tx
          .update(tickets)
          .set({ freezeOverride: true, updatedAt: sql`now()` })
          .where(eq(tickets.id, ticketId))
          .returning();
        if (!ticket) throw new NotFound('ticket', ticketId);
        await recordEvent(tx, {
          ticketId,
          projectId: ticket.projectId,
          action: 'OVERRIDE_FREEZE',
          from: ticket.state,
          to: ticket.state,
          actorId: context.viewer?.id ?? null,
          comment: text,
        });
        return ticket;
      });
    },
  }),
  previewDeploy: t.field({
    type: JobRef,
    description:
      'Asks the executor what a deploy of this ticket would change on each target (rsync --dry-run); read the ' +
      'answer from the job’s `preview` once it has finished',
    args: { id: t.arg.id({ required: true }), fullSync: t.arg.boolean({ defaultValue: false }) },
    authScopes: async (_root, args, context) => ({
      $any: { admin: true, member: { projectId: await projectIdOfTicket(context, args.id), role: 'DEVELOPER' } },
    }),
    resolve: async (_root, args, context) => {
      const ticket = await loadTicket(context, parseId(args.id, 'id'));
      const project = await loadProject(context, ticket.projectId);
      if (
        ticket.kind === 'RELEASE' &&
        !['AWAITING_TEST', 'AWAITING_APPROVAL', 'APPROVED', 'DEPLOY_FAILED'].includes(ticket.state)
      ) {
        throw new SlipwayError('INVALID_TRANSITION', `a ticket that is ${ticket.state} has nothing staged to preview`);
      }
      return context.db.transaction((tx) =>
        enqueueJob(tx, {
          projectId: project.id,
          ticketId: ticket.id,
          kind: 'PREVIEW',
          pool: project.pool,
          payload: args.fullSync ? { fullSync: true } : undefined,
        }),
      );
    },
  }),
  requestRollback: t.field({
    type: TicketRef,
    description:
      'Files a rollback ticket of one environment to a released version (environmentId: required when the project has more than one); it goes through approval like a release. A release rolled back on an environment cannot be promoted onward from it',
    args: {
      releaseId: t.arg.id({ required: true }),
      reason: t.arg.string({ required: true }),
      environmentId: t.arg.id(),
    },
    authScopes: async (_root, args, context) => ({
      member: {
        projectId: (await loadRelease(context, parseId(args.releaseId, 'releaseId'))).projectId,
        role: minimumRole('REQUEST_ROLLBACK'),
      },
    }),
    resolve: async (_root, args, context) => {
      const release = await loadRelease(context, parseId(args.releaseId, 'releaseId'));
      const text = parseInput(reason, args.reason, 'reason');
      const viewer = context.viewer as { id: number };
      const role = await context.roleIn(release.projectId);
      return context.db.transaction(async (tx) => {
        const project = await lockProject(tx, release.projectId);
        decide(
          'REQUEST_ROLLBACK',
          { kind: 'ROLLBACK', state: null, authorId: null },
          { userId: viewer.id, role },
          project,
        );
        const environment = await environmentNamed(tx, project.id, args.environmentId);
        if (environment.liveReleaseId === release.id)
          throw new BadUserInput('releaseId', `v${release.number} is already live`);
        return fileTicket(tx, {
          projectId: project.id,
          environmentId: environment.id,
          kind: 'ROLLBACK',
          state: 'AWAITING_APPROVAL',
          reason: text,
          authorId: viewer.id,
          releaseId: release.id,
          action: 'REQUEST_ROLLBACK',
        });
      });
    },
  }),
  requestPromotion: t.field({
    type: TicketRef,
    description:
      'Files a promotion: the release, live (or once live, and not rolled back) on the environment just before `environmentId`, deployed there byte for byte (no new tag). Approved like a rollback with that environment’s requiredApprovals (0: it starts APPROVED), then deployed (deployTicket, scheduleDeploy); BAKING until the environment’s bakeMinutes have passed since the release went live on the one before. NOT_PROMOTABLE: the first environment, an environment out of order, a release never live on the one before, or rolled back there',
    args: {
      releaseId: t.arg.id({ required: true }),
      environmentId: t.arg.id({ required: true }),
      reason: t.arg.string({ required: true }),
    },
    authScopes: async (_root, args, context) => ({
      member: {
        projectId: (await loadRelease(context, parseId(args.releaseId, 'releaseId'))).projectId,
        role: minimumRole('REQUEST_PROMOTION'),
      },
    }),
    resolve: async (_root, args, context) => {
      const release = await loadRelease(context, parseId(args.releaseId, 'releaseId'));
      const text = parseInput(reason, args.reason, 'reason');
      const viewer = context.viewer as { id: number };
      const role = await context.roleIn(release.projectId);
      return context.db.transaction(async (tx) => {
        const project = await lockProject(tx, release.projectId);
        decide(
          'REQUEST_PROMOTION',
          { kind: 'PROMOTION', state: null, authorId: null },
          { userId: viewer.id, role },
          project,
        );
        const environment = await environmentNamed(tx, project.id, args.environmentId);
        if (environment.liveReleaseId === release.id)
          throw new BadUserInput('releaseId', `v${release.number} is already live`);
        // Order, history and rollbacks now; the bake time when it is deployed.
        await checkPromotion(tx, release, environment);
        return fileTicket(tx, {
          projectId: project.id,
          environmentId: environment.id,
          kind: 'PROMOTION',
          state: environment.requiredApprovals === 0 ? 'APPROVED' : 'AWAITING_APPROVAL',
          reason: text,
          authorId: viewer.id,
          releaseId: release.id,
          action: 'REQUEST_PROMOTION',
        });
      });
    },
  }),
  requestRevert: t.field({
    type: TicketRef,
    description:
      'Files a revert: undoes one deployed RELEASE ticket’s change and keeps everything else — a new release (the next tag) of what the first environment runs with that ticket’s paths as they were before its release (files it added removed, files it deleted restored, modes kept). The executor prepares it (PENDING_STAGING → AWAITING_APPROVAL, its `changes` what goes back); then approved and deployed like a rollback, and promoted like any release. REVERT_CONFLICT (`extensions.tickets` {id reason tag}, newest first) when a release since changed any of its paths; NOT_PROMOTABLE when its release is not part of what the first environment runs (rolled back, or never deployed); PATH_LOCKED when an open ticket holds one of its paths',
    args: { ticketId: t.arg.id({ required: true }), reason: t.arg.string({ required: true }) },
    authScopes: async (_root, args, context) => ({
      member: {
        projectId: await projectIdOfTicket(context, args.ticketId),
        role: minimumRole('REQUEST_REVERT'),
      },
    }),
    resolve: async (_root, args, context) => {
      const reverted = await loadTicket(context, parseId(args.ticketId, 'ticketId'));
      const text = parseInput(reason, args.reason, 'reason');
      const viewer = context.viewer as { id: number };
      const role = await context.roleIn(reverted.projectId);
      if (reverted.kind !== 'RELEASE')
        throw new BadUserInput(
          'ticketId',
          `is a ${reverted.kind.toLowerCase()} ticket: only a release ticket is reverted`,
        );
      return context.db.transaction(async (tx) => {
        const project = await lockProject(tx, reverted.projectId);
        decide('REQUEST_REVERT', { kind: 'REVERT', state: null, authorId: null }, { userId: viewer.id, role }, project);
        await checkRevert(tx, reverted);
        await assertPathsFree(tx, project.id, reverted.paths);
        const environment = await firstEnvironment(tx, project.id);
        const ticket = await fileTicket(tx, {
          projectId: project.id,
          environmentId: environment.id,
          kind: 'REVERT',
          state: 'PENDING_STAGING',
          reason: text,
          authorId: viewer.id,
          paths: reverted.paths,
          revertsTicketId: reverted.id,
          action: 'REQUEST_REVERT',
        });
        await enqueueJob(tx, { projectId: project.id, ticketId: ticket.id, kind: 'STAGE', pool: project.pool });
        return ticket;
      });
    },
  }),
}));

builder.mutationField('requestRepair', (t) =>
  t.field({
    type: TicketRef,
    description:
      'Files a repair of drifted targets: once approved like a rollback, deploying it syncs the live release to those ' +
      'targets only, every file compared by checksum (no new tag)',
    args: {
      projectId: t.arg.id({ required: true }),
      targetIds: t.arg.idList({ required: true }),
      reason: t.arg.string({ required: true }),
    },
    authScopes: (_root, args) => ({
      member: { projectId: parseId(args.projectId, 'projectId'), role: minimumRole('REQUEST_REPAIR') },
    }),
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const text = parseInput(reason, args.reason, 'reason');
      if (args.targetIds.length === 0) throw new BadUserInput('targetIds', 'must name at least one target');
      if (args.targetIds.length > 1000) throw new BadUserInput('targetIds', 'must name at most 1,000 targets');
      const ids = [...new Set(args.targetIds.map((id, i) => parseId(id, `targetIds.${i}`)))];
      const viewer = context.viewer as { id: number };
      const role = await context.roleIn(projectId);
      return context.db.transaction(async (tx) => {
        const project = await lockProject(tx, projectId);
        decide('REQUEST_REPAIR', { kind: 'REPAIR', state: null, authorId: null }, { userId: viewer.id, role }, project);
        const found = await tx
          .select({
            id: targets.id,
            releaseId: targets.releaseId,
            name: targets.name,
            environmentId: targets.environmentId,
          })
          .from(targets)
          .where(and(eq(targets.projectId, projectId), inArray(targets.id, ids)));
        const missing = ids.filter((id) => !found.some((f) => f.id === id));
        if (missing.length > 0) throw new BadUserInput('targetIds', `the project has no target ${missing.join(', ')}`);
        // A repair restores one environment's live release on some of its targets.
        const environmentIds = [...new Set(found.map((f) => f.environmentId))];
        if (environmentIds.length > 1)
          throw new BadUserInput('targetIds', 'names targets of more than one environment: repair one at a time');
        const environment = await environmentNamed(tx, projectId, environmentIds[0], 'targetIds');
        if (!environment.liveReleaseId)
          throw new BadUserInput('projectId', 'the project has no live release to restore');
        const elsewhere = found.filter((f) => f.releaseId !== environment.liveReleaseId);
        if (elsewhere.length > 0)
          throw new BadUserInput(
            'targetIds',
            `${elsewhere.map((f) => f.name).join(', ')} ${elsewhere.length === 1 ? 'is' : 'are'} not on the live release: deploy or roll back instead`,
          );
        return fileTicket(tx, {
          projectId,
          environmentId: environment.id,
          kind: 'REPAIR',
          state: 'AWAITING_APPROVAL',
          reason: text,
          authorId: viewer.id,
          releaseId: environment.liveReleaseId,
          repairTargetIds: ids,
          action: 'REQUEST_REPAIR',
        });
      });
    },
  }),
);

/** How far ahead a deploy may be scheduled. */
const MAX_SCHEDULE_DAYS = 90;

/** Schedules (or reschedules, or with `at` null cancels) the ticket's deploy, in one transaction with its audit event. */
async function setSchedule(context: Context, id: string, at: Date | null): Promise<TicketRow> {
  const ticketId = parseId(id, 'id');
  const viewer = context.viewer;
  if (!viewer) throw new SlipwayError('UNAUTHENTICATED', 'sign in first');
  if (at) {
    if (at.getTime() <= Date.now()) throw new BadUserInput('at', 'must be in the future');
    if (at.getTime() > Date.now() + MAX_SCHEDULE_DAYS * 86_400_000)
      throw new BadUserInput('at', `must be within ${MAX_SCHEDULE_DAYS} days`);
  }
  const projectId = (await loadTicket(context, ticketId)).projectId;
  const role = await context.roleIn(projectId);
  return context.db.transaction(async (tx) => {
    const [locked] = await tx.select().from(tickets).where(eq(tickets.id, ticketId)).for('update');
    if (!locked) throw new NotFound('ticket', ticketId);
    const project = await loadProjectIn(tx, projectId);
    // Whoever may deploy the ticket now may schedule its deploy (and cancel a schedule).
    decide('DEPLOY', locked, { userId: viewer.id, role }, project);
    if (!at && !locked.scheduledAt) throw new BadUserInput('id', 'no deploy of this ticket is scheduled');
    await tx.delete(jobs).where(and(eq(jobs.ticketId, ticketId), eq(jobs.kind, 'DEPLOY_AT'), eq(jobs.state, 'QUEUED')));
    const [ticket] = await tx
      .update(tickets)
      .set({ scheduledAt: at, scheduledById: at ? viewer.id : null, updatedAt: sql`now()` })
      .where(eq(tickets.id, ticketId))
      .returning();
    if (at) {
      await enqueueJob(tx, {
        projectId,
        ticketId,
        kind: 'DEPLOY_AT',
        pool: project.pool,
        runAfter: at,
        payload: { at: at.toISOString() },
      });
    }
    await recordEvent(tx, {
      ticketId,
      projectId,
      action: at ? 'SCHEDULE_DEPLOY' : 'UNSCHEDULE_DEPLOY',
      from: locked.state,
      to: locked.state,
      actorId: viewer.id,
      comment: at ? `deploy at ${at.toISOString()}` : `the deploy at ${locked.scheduledAt?.toISOString()} is cancelled`,
    });
    return ticket as TicketRow;
  });
}

builder.mutationFields((t) => ({
  scheduleDeploy: t.field({
    type: TicketRef,
    description:
      'Deploys an approved ticket at `at` (within 90 days), as if its scheduler pressed deploy then; again: reschedules',
    args: { id: t.arg.id({ required: true }), at: t.arg({ type: 'DateTime', required: true }) },
    authScopes: async (_root, args, context) => ({
      member: { projectId: (await loadTicket(context, parseId(args.id, 'id'))).projectId, role: minimumRole('DEPLOY') },
    }),
    resolve: (_root, args, context) => setSchedule(context, args.id, args.at),
  }),
  unscheduleDeploy: t.field({
    type: TicketRef,
    description: 'Cancels the scheduled deploy of a ticket (it stays approved)',
    args: { id: t.arg.id({ required: true }) },
    authScopes: async (_root, args, context) => ({
      member: { projectId: (await loadTicket(context, parseId(args.id, 'id'))).projectId, role: minimumRole('DEPLOY') },
    }),
    resolve: (_root, args, context) => setSchedule(context, args.id, null),
  }),
}));

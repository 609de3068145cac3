import {
  approvals,
  availableActions,
  BadUserInput,
  type Db,
  decide,
  deployJob,
  deployResults,
  type EventMessage,
  enqueueJob,
  InvalidTransition,
  jobs,
  memberships,
  minimumRole,
  multilineText,
  NotFound,
  OPEN_STATES,
  parseInput,
  pathsConflict,
  projects,
  recordEvent,
  recordTransition,
  releases,
  SlipwayError,
  startDeploy,
  type TicketAction,
  type TicketRow,
  type Tx,
  targets,
  ticketChanges,
  ticketEvents,
  ticketKind,
  ticketPaths,
  ticketState,
  tickets,
  users,
} from '@slipway/schema';
import { and, asc, count, desc, eq, inArray, isNull, lt, ne, sql } from 'drizzle-orm';
import { z } from 'zod';
import { prepared } from '../prepared.ts';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { parseId } from './ids.ts';
import { JobRef, type PathChange, PathChangeRef, TransferEnum } from './jobs.ts';
import { loadProject, ProjectRef, type ProjectRow, TargetRef } from './projects.ts';
import { loadUser, UserRef } from './users.ts';

export type TicketEventRow = typeof ticketEvents.$inferSelect;
export type ReleaseRow = typeof releases.$inferSelect;
type ApprovalRow = typeof approvals.$inferSelect;
type DeployResultRow = typeof deployResults.$inferSelect;

export const TicketStateEnum = builder.enumType('TicketState', { values: ticketState.enumValues });
const TicketKindEnum = builder.enumType('TicketKind', { values: ticketKind.enumValues });
const TicketActionEnum = builder.enumType('TicketAction', {
  values: [
    'SUBMIT',
    'RETURN',
    'RESUBMIT',
    'PASS_TEST',
    'APPROVE',
    'REJECT',
    'DEPLOY',
    'RETRY_DEPLOY',
    'CANCEL',
    'REQUEST_ROLLBACK',
    'REQUEST_REPAIR',
  ] as const,
});
const TargetOutcomeEnum = builder.enumType('TargetOutcome', { values: ['OK', 'FAILED', 'SKIPPED'] as const });

export const TicketRef = builder.objectRef<TicketRow>('Ticket');
export const TicketEventRef = builder.objectRef<TicketEventRow>('TicketEvent');
export const ReleaseRef = builder.objectRef<ReleaseRow>('Release');
const ApprovalRef = builder.objectRef<ApprovalRow>('Approval');
const DeployResultRef = builder.objectRef<DeployResultRow>('DeployResult');
export const ChangeKindEnum = builder.enumType('ChangeKind', { values: ['ADDED', 'MODIFIED', 'DELETED'] as const });
const TicketChangeRef = builder.objectRef<typeof ticketChanges.$inferSelect>('TicketChange').implement({
  fields: (t) => ({
    path: t.exposeString('path'),
    change: t.expose('change', { type: ChangeKindEnum }),
    binary: t.exposeBoolean('binary', { description: 'A binary file: named, not diffed' }),
    diff: t.exposeString('diff', { nullable: true, description: 'Unified diff (text files up to 256 KiB)' }),
    truncated: t.exposeBoolean('truncated', { description: 'Too large (or too many files) to show a diff' }),
  }),
});

export async function loadTicket(context: Context, id: number): Promise<TicketRow> {
  const [row] = await context.db.select().from(tickets).where(eq(tickets.id, id));
  if (!row) throw new NotFound('ticket', id);
  return row;
}

export async function loadRelease(context: Context, id: number): Promise<ReleaseRow> {
  const [row] = await context.db.select().from(releases).where(eq(releases.id, id));
  if (!row) throw new NotFound('release', id);
  return row;
}

TicketRef.implement({
  description: 'A release ticket, or a rollback ticket (kind ROLLBACK) to an earlier release',
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.expose('kind', { type: TicketKindEnum }),
    state: t.expose('state', { type: TicketStateEnum }),
    reason: t.exposeString('reason'),
    paths: t.exposeStringList('paths', { description: 'Paths inside the working copy (empty for a rollback)' }),
    author: t.field({ type: UserRef, resolve: (ticket, _args, context) => loadUser(context, ticket.authorId) }),
    project: t.field({ type: ProjectRef, resolve: (ticket, _args, context) => loadProject(context, ticket.projectId) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    stagedRevision: t.exposeString('stagedRevision', {
      nullable: true,
      description: 'The svn revision or git commit staged for this ticket',
    }),
    stagingUrl: t.string({
      nullable: true,
      resolve: async (ticket, _args, context) => (await loadProject(context, ticket.projectId)).stagingUrl,
    }),
    events: t.field({
      type: [TicketEventRef],
      description: 'The audit trail, oldest first',
      resolve: (ticket, _args, { db }) =>
        db.select().from(ticketEvents).where(eq(ticketEvents.ticketId, ticket.id)).orderBy(asc(ticketEvents.id)),
    }),
    approvals: t.field({
      type: [ApprovalRef],
      description: 'Approvals counted towards the project’s required approvals (cleared on resubmit)',
      resolve: (ticket, _args, { db }) =>
        db.select().from(approvals).where(eq(approvals.ticketId, ticket.id)).orderBy(asc(approvals.id)),
    }),
    jobs: t.field({
      type: [JobRef],
      resolve: (ticket, _args, { db }) =>
        db.select().from(jobs).where(eq(jobs.ticketId, ticket.id)).orderBy(asc(jobs.id)),
    }),
    release: t.field({
      type: ReleaseRef,
      nullable: true,
      description: 'The version this ticket produced, or the one it rolls back to',
      resolve: (ticket, _args, context) => (ticket.releaseId ? loadRelease(context, ticket.releaseId) : null),
    }),
    deployResults: t.field({
      type: [DeployResultRef],
      description: 'Per-target outcome of the latest deploy job',
      resolve: async (ticket, _args, { db }) => {
        const [latest] = await db
          .select({ id: jobs.id })
          .from(jobs)
          .where(and(eq(jobs.ticketId, ticket.id), inArray(jobs.kind, ['DEPLOY', 'ROLLBACK', 'REPAIR'])))
          .orderBy(desc(jobs.id))
          .limit(1);
        if (!latest) return [];
        return db
          .select()
          .from(deployResults)
          .where(eq(deployResults.jobId, latest.id))
          .orderBy(asc(deployResults.targetName));
      },
    }),
    changes: t.field({
      type: [TicketChangeRef],
      description:
        'What the ticket changes against the live version, computed when staging completed: files added, modified ' +
        'and deleted under its paths, with unified diffs of text files',
      resolve: (ticket, _args, { db }) =>
        db.select().from(ticketChanges).where(eq(ticketChanges.ticketId, ticket.id)).orderBy(asc(ticketChanges.path)),
    }),
    availableActions: t.field({
      type: [TicketActionEnum],
      description: 'What the signed-in user may do to this ticket now (from the workflow table)',
      resolve: async (ticket, _args, context) => {
        if (!context.viewer) return [];
        const project = await loadProject(context, ticket.projectId);
        return availableActions(ticket, { userId: context.viewer.id, role: await context.roleIn(project.id) }, project);
      },
    }),
  }),
});

const EventParamRef = builder.objectRef<{ name: string; value: string }>('EventParam').implement({
  fields: (t) => ({ name: t.exposeString('name'), value: t.exposeString('value') }),
});
const EventMessageRef = builder.objectRef<EventMessage>('EventMessage').implement({
  description:
    "An executor's event in words of no language, for a client to say in its own: the sentence's key and its values",
  fields: (t) => ({
    key: t.exposeString('key', {
      description:
        'STAGED_REVISION, STAGED_COMMIT (revision); LIVE (version); RESTORED, REVERTED (version, targets); ' +
        'REVERTED_NOTHING; SCHEDULED, SCHEDULED_OVERRIDE (at); SCHEDULE_NOT_STARTED (at, why: as the server said it)',
    }),
    params: t.field({
      type: [EventParamRef],
      resolve: (m) => Object.entries(m.params).map(([name, value]) => ({ name, value })),
    }),
  }),
});

TicketEventRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    ticket: t.field({ type: TicketRef, resolve: (e, _args, context) => loadTicket(context, e.ticketId) }),
    action: t.exposeString('action'),
    from: t.expose('fromState', { type: TicketStateEnum, nullable: true }),
    to: t.expose('toState', { type: TicketStateEnum }),
    actor: t.field({
      type: UserRef,
      nullable: true,
      description: 'Null for the executor',
      resolve: (e, _args, context) => (e.actorId ? loadUser(context, e.actorId) : null),
    }),
    comment: t.exposeString('comment', { nullable: true }),
    message: t.expose('message', {
      type: EventMessageRef,
      nullable: true,
      description: "The executor's events: what the comment says, as a key and values (null for people's events)",
    }),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

ApprovalRef.implement({
  fields: (t) => ({
    approver: t.field({ type: UserRef, resolve: (a, _args, context) => loadUser(context, a.approverId) }),
    comment: t.exposeString('comment', { nullable: true }),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

DeployResultRef.implement({
  fields: (t) => ({
    targetName: t.exposeString('targetName'),
    outcome: t.expose('outcome', { type: TargetOutcomeEnum }),
    bytesSent: t.exposeFloat('bytesSent'),
    filesChanged: t.exposeInt('filesChanged'),
    durationMs: t.exposeInt('durationMs'),
    error: t.exposeString('error', { nullable: true }),
    transfer: t.expose('transfer', {
      type: TransferEnum,
      nullable: true,
      description: 'Null when nothing was transferred (a switch to a release the target held, a skip, a failure)',
    }),
    changes: t.field({
      type: [PathChangeRef],
      nullable: true,
      description: 'What changed on the target (the first 1,000; see changesCount)',
      resolve: (r) => (r.changes as PathChange[] | null) ?? null,
    }),
    changesCount: t.exposeInt('changesCount', { nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime' }),
  }),
});

ReleaseRef.implement({
  description: 'A released version: the ledger tag v{number}; v0 is the baseline taken when the project was created',
  fields: (t) => ({
    id: t.exposeID('id'),
    number: t.exposeInt('number'),
    tag: t.string({ resolve: (r) => `v${r.number}` }),
    commit: t.exposeString('commit'),
    ticket: t.field({
      type: TicketRef,
      nullable: true,
      resolve: (r, _args, context) => (r.ticketId ? loadTicket(context, r.ticketId) : null),
    }),
    project: t.field({ type: ProjectRef, resolve: (r, _args, context) => loadProject(context, r.projectId) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    rolledBackAt: t.expose('rolledBackAt', { type: 'DateTime', nullable: true }),
    bad: t.boolean({
      description: 'A rollback took this version off the targets',
      resolve: (r) => r.rolledBackAt !== null,
    }),
    live: t.boolean({
      description: 'Whether this is the version on the targets now',
      resolve: async (r, _args, context) => (await loadProject(context, r.projectId)).liveReleaseId === r.id,
    }),
  }),
});

const TicketEdge = builder.objectRef<{ cursor: string; node: TicketRow }>('TicketEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: TicketRef, resolve: (e) => e.node }),
  }),
});
const PageInfo = builder.objectRef<{ hasNextPage: boolean; endCursor: string | null }>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});
const TicketConnection = builder
  .objectRef<{
    edges: { cursor: string; node: TicketRow }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  }>('TicketConnection')
  .implement({
    fields: (t) => ({
      edges: t.field({ type: [TicketEdge], resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfo, resolve: (c) => c.pageInfo }),
    }),
  });

const reason = multilineText(4000)
  .transform((s) => s.trim())
  .refine((s) => s.length > 0, { message: 'must not be empty' })
  // biome-ignore lint/suspicious/noControlCharactersInRegex: tabs and newlines are fine, other control characters are not
  .refine((s) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), { message: 'must not contain control characters' });
const comment = reason.optional();

const cursorOf = (id: number) => Buffer.from(`ticket:${id}`).toString('base64url');
function parseCursor(cursor: string): number {
  const match = /^ticket:(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new BadUserInput('after', 'is not a cursor from this connection');
  return Number(match[1]);
}

async function projectIdOfTicket(context: Context, id: string | number): Promise<number> {
  return (await loadTicket(context, parseId(id, 'id'))).projectId;
}

/** A page of a project's tickets with their authors, one prepared statement per combination of filters. */
function ticketPage(
  db: Db,
  filter: {
    states: readonly string[] | null;
    authorId: number | null;
    before: number | null;
    search: string | null;
    createdAfter: string | null;
    createdBefore: string | null;
  },
) {
  const flags = [
    filter.states && 's',
    filter.authorId && 'a',
    filter.before && 'b',
    filter.search && 'q',
    filter.createdAfter && 'f',
    filter.createdBefore && 't',
  ];
  const key = `ticket_page_${flags.filter(Boolean).join('')}`;
  return prepared(db, key, (db, name) => {
    const conditions = [eq(tickets.projectId, sql.placeholder('projectId'))];
    if (filter.states) conditions.push(sql`${tickets.state} = any(${sql.placeholder('states')}::ticket_state[])`);
    if (filter.authorId) conditions.push(eq(tickets.authorId, sql.placeholder('authorId')));
    if (filter.before) conditions.push(lt(tickets.id, sql.placeholder('before')));
    // The words typed, in the reason or in any path (the placeholder holds a LIKE pattern, its wildcards escaped).
    if (filter.search)
      conditions.push(
        sql`(${tickets.reason} ilike ${sql.placeholder('search')} or exists (select 1 from unnest(${tickets.paths}) p where p ilike ${sql.placeholder('search')}))`,
      );
    if (filter.createdAfter)
      conditions.push(sql`${tickets.createdAt} >= ${sql.placeholder('createdAfter')}::timestamptz`);
    if (filter.createdBefore)
      conditions.push(sql`${tickets.createdAt} < ${sql.placeholder('createdBefore')}::timestamptz`);
    return db
      .select({ ticket: tickets, author: users })
      .from(tickets)
      .innerJoin(users, eq(users.id, tickets.authorId))
      .where(and(...conditions))
      .orderBy(desc(tickets.id))
      .limit(sql.placeholder('limit'))
      .prepare(name);
  });
}

interface MyWork {
  toTest: TicketRow[];
  toApprove: TicketRow[];
  toDeploy: TicketRow[];
  returned: TicketRow[];
}

const MyWorkRef = builder.objectRef<MyWork>('MyWork').implement({
  description:
    'What waits for the signed-in user across their projects (not archived ones), oldest first: what the workflow table lets them do now',
  fields: (t) => ({
    toTest: t.field({ type: [TicketRef], description: 'Staged tickets they may pass', resolve: (w) => w.toTest }),
    toApprove: t.field({
      type: [TicketRef],
      description: 'Tickets waiting for their approval (not yet given)',
      resolve: (w) => w.toApprove,
    }),
    toDeploy: t.field({
      type: [TicketRef],
      description: 'Approved tickets they may deploy, and failed deploys they may retry or cancel',
      resolve: (w) => w.toDeploy,
    }),
    returned: t.field({
      type: [TicketRef],
      description: 'Their own tickets that came back (returned, or staging failed)',
      resolve: (w) => w.returned,
    }),
    count: t.int({
      description: 'How many tickets wait for them in all',
      resolve: (w) => w.toTest.length + w.toApprove.length + w.toDeploy.length + w.returned.length,
    }),
  }),
});

/** Sorts the open tickets of the viewer's projects by what the workflow table lets the viewer do to each now. */
async function myWork(context: Context): Promise<MyWork> {
  const viewer = context.viewer as { id: number };
  const rows = await context.db
    .select({ ticket: tickets, role: memberships.role, project: projects })
    .from(tickets)
    .innerJoin(memberships, and(eq(memberships.projectId, tickets.projectId), eq(memberships.userId, viewer.id)))
    .innerJoin(projects, eq(projects.id, tickets.projectId))
    .where(
      and(
        inArray(tickets.state, [
          'AWAITING_TEST',
          'AWAITING_APPROVAL',
          'APPROVED',
          'DEPLOY_FAILED',
          'RETURNED',
          'STAGING_FAILED',
        ]),
        isNull(projects.archivedAt),
      ),
    )
    .orderBy(asc(tickets.updatedAt), asc(tickets.id));
  const approved = new Set(
    rows.length
      ? (
          await context.db
            .select({ ticketId: approvals.ticketId })
            .from(approvals)
            .where(
              and(
                eq(approvals.approverId, viewer.id),
                inArray(
                  approvals.ticketId,
                  rows.map((r) => r.ticket.id),
                ),
              ),
            )
        ).map((a) => a.ticketId)
      : [],
  );
  const work: MyWork = { toTest: [], toApprove: [], toDeploy: [], returned: [] };
  for (const { ticket, role, project } of rows) {
    const actions = availableActions(ticket, { userId: viewer.id, role }, project);
    if (actions.includes('PASS_TEST')) work.toTest.push(ticket);
    else if (actions.includes('APPROVE') && !approved.has(ticket.id)) work.toApprove.push(ticket);
    else if (actions.includes('DEPLOY') || actions.includes('RETRY_DEPLOY')) work.toDeploy.push(ticket);
    else if (actions.includes('RESUBMIT')) work.returned.push(ticket);
  }
  return work;
}

builder.queryFields((t) => ({
  myWork: t.field({
    type: MyWorkRef,
    description: 'What waits for the signed-in user: to test, to approve, to deploy, and their returned tickets',
    authScopes: { authenticated: true },
    resolve: (_root, _args, context) => myWork(context),
  }),
  tickets: t.field({
    type: TicketConnection,
    description: "A project's tickets, newest first",
    args: {
      projectId: t.arg.id({ required: true }),
      states: t.arg({ type: [TicketStateEnum] }),
      authorId: t.arg.id(),
      search: t.arg.string({ description: 'Words in the reason or in a path (case does not matter)' }),
      createdAfter: t.arg({ type: 'DateTime', description: 'Filed at or after this time' }),
      createdBefore: t.arg({ type: 'DateTime', description: 'Filed before this time' }),
      first: t.arg.int({ description: '1-100, default 20' }),
      after: t.arg.string(),
    },
    authScopes: (_root, args) => ({
      $any: { admin: true, member: { projectId: parseId(args.projectId, 'projectId'), role: 'VIEWER' } },
    }),
    resolve: async (_root, args, context) => {
      const first = args.first ?? 20;
      if (first < 1 || first > 100) throw new BadUserInput('first', 'must be between 1 and 100');
      const filter = {
        projectId: parseId(args.projectId, 'projectId'),
        states: args.states?.length ? args.states : null,
        authorId: args.authorId ? parseId(args.authorId, 'authorId') : null,
        before: args.after ? parseCursor(args.after) : null,
        search: args.search?.trim()
          ? `%${args.search
              .trim()
              .slice(0, 200)
              .replace(/[\\%_]/g, '\\$&')}%`
          : null,
        createdAfter: args.createdAfter ? new Date(args.createdAfter).toISOString() : null,
        createdBefore: args.createdBefore ? new Date(args.createdBefore).toISOString() : null,
        limit: first + 1,
      };
      // Served from memory while no ticket or user changed since (the clock came with the viewer's credentials).
      const clock = context.viewer?.ticketsClock ?? Number.NaN;
      const key = JSON.stringify(filter);
      let rows = context.ticketPages.get(clock, key);
      if (!rows) {
        rows = await ticketPage(context.db, filter).execute(filter);
        context.ticketPages.set(clock, key, rows);
      }
      const page = rows.slice(0, first);
      // The page's authors came with it: a ticket list always shows them, and it saves the loader's round trip.
      for (const { author } of page) context.loaders.user.prime(author.id, author);
      return {
        edges: page.map(({ ticket }) => ({ cursor: cursorOf(ticket.id), node: ticket })),
        pageInfo: {
          hasNextPage: rows.length > first,
          endCursor: page.length ? cursorOf(page.at(-1)?.ticket.id ?? 0) : null,
        },
      };
    },
  }),
  ticket: t.field({
    type: TicketRef,
    args: { id: t.arg.id({ required: true }) },
    authScopes: async (_root, args, context) => ({
      $any: { admin: true, member: { projectId: await projectIdOfTicket(context, args.id), role: 'VIEWER' } },
    }),
    resolve: (_root, args, context) => loadTicket(context, parseId(args.id, 'id')),
  }),
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
      if (n < project.requiredApprovals) {
        await recordEvent(tx, { ...base, to: locked.state });
        return locked;
      }
      return recordTransition(tx, base);
    }

    if (action === 'RESUBMIT') {
      const paths = options.paths ? parseInput(ticketPaths, options.paths, 'paths') : locked.paths;
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

const SubmitTicketInput = builder.inputType('SubmitTicketInput', {
  fields: (t) => ({
    projectId: t.id({ required: true }),
    reason: t.string({ required: true }),
    paths: t.stringList({ required: true, description: 'Paths relative to the working copy, e.g. "www/index.php"' }),
  }),
});

const submitInput = z.object({ projectId: z.union([z.string(), z.number()]), reason, paths: ticketPaths });

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
        await assertPathsFree(tx, projectId, input.paths);
        const [ticket] = await tx
          .insert(tickets)
          .values({
            projectId,
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
      'fullSync (or the project’s alwaysFullSync) sends every file to every target',
    args: { id: t.arg.id({ required: true }), fullSync: t.arg.boolean({ defaultValue: false }) },
    authScopes: ticketScope('DEPLOY'),
    resolve: (_root, args, context) =>
      act(context, args.id, 'DEPLOY', { payload: args.fullSync ? { fullSync: true } : undefined }),
  }),
  retryDeploy: t.field({
    type: TicketRef,
    description: 'Deploys a failed ticket again to the targets not yet on its version (fullSync: every file)',
    args: { id: t.arg.id({ required: true }), fullSync: t.arg.boolean({ defaultValue: false }) },
    authScopes: ticketScope('RETRY_DEPLOY'),
    resolve: (_root, args, context) =>
      act(context, args.id, 'RETRY_DEPLOY', { payload: args.fullSync ? { fullSync: true } : undefined }),
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
  requestRollback: t.field({
    type: TicketRef,
    description: 'Files a rollback ticket to a released version; it goes through approval like a release',
    args: { releaseId: t.arg.id({ required: true }), reason: t.arg.string({ required: true }) },
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
        if (project.liveReleaseId === release.id)
          throw new BadUserInput('releaseId', `v${release.number} is already live`);
        const [ticket] = await tx
          .insert(tickets)
          .values({
            projectId: project.id,
            kind: 'ROLLBACK',
            state: 'AWAITING_APPROVAL',
            reason: text,
            paths: [],
            authorId: viewer.id,
            releaseId: release.id,
          })
          .returning();
        if (!ticket) throw new Error('insert returned no row');
        await recordEvent(tx, {
          ticketId: ticket.id,
          projectId: project.id,
          action: 'REQUEST_ROLLBACK',
          from: null,
          to: ticket.state,
          actorId: viewer.id,
          comment: null,
        });
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
        if (!project.liveReleaseId) throw new BadUserInput('projectId', 'the project has no live release to restore');
        const found = await tx
          .select({ id: targets.id, releaseId: targets.releaseId, name: targets.name })
          .from(targets)
          .where(and(eq(targets.projectId, projectId), inArray(targets.id, ids)));
        const missing = ids.filter((id) => !found.some((f) => f.id === id));
        if (missing.length > 0) throw new BadUserInput('targetIds', `the project has no target ${missing.join(', ')}`);
        const elsewhere = found.filter((f) => f.releaseId !== project.liveReleaseId);
        if (elsewhere.length > 0)
          throw new BadUserInput(
            'targetIds',
            `${elsewhere.map((f) => f.name).join(', ')} ${elsewhere.length === 1 ? 'is' : 'are'} not on the live release: deploy or roll back instead`,
          );
        const [ticket] = await tx
          .insert(tickets)
          .values({
            projectId,
            kind: 'REPAIR',
            state: 'AWAITING_APPROVAL',
            reason: text,
            paths: [],
            authorId: viewer.id,
            releaseId: project.liveReleaseId,
            repairTargetIds: ids,
          })
          .returning();
        if (!ticket) throw new Error('insert returned no row');
        await recordEvent(tx, {
          ticketId: ticket.id,
          projectId,
          action: 'REQUEST_REPAIR',
          from: null,
          to: ticket.state,
          actorId: viewer.id,
          comment: `repair of ${found.map((f) => f.name).join(', ')}`,
        });
        return ticket;
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

builder.objectFields(TicketRef, (t) => ({
  scheduledAt: t.expose('scheduledAt', {
    type: 'DateTime',
    nullable: true,
    description: 'When the deploy is scheduled to start (scheduleDeploy)',
  }),
  scheduledBy: t.field({
    type: UserRef,
    nullable: true,
    description: 'Who scheduled it: the deploy starts as theirs',
    resolve: (ticket, _args, context) => (ticket.scheduledById ? loadUser(context, ticket.scheduledById) : null),
  }),
}));

builder.objectField(TicketRef, 'repairTargets', (t) =>
  t.field({
    type: [TargetRef],
    description: 'A repair: the targets it brings back to the release (empty for other kinds)',
    resolve: async (ticket, _args, { db }) =>
      ticket.repairTargetIds?.length
        ? db
            .select()
            .from(targets)
            .where(inArray(targets.id, ticket.repairTargetIds))
            .orderBy(asc(targets.position), asc(targets.name))
        : [],
  }),
);

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

builder.objectField(ProjectRef, 'lastEventId', (t) =>
  t.id({
    nullable: true,
    description: 'The newest ticket event of the project: subscribe to ticketEvents after it to miss nothing',
    resolve: async (project, _args, { db }) => {
      const [row] = await db
        .select({ id: ticketEvents.id })
        .from(ticketEvents)
        .where(eq(ticketEvents.projectId, project.id))
        .orderBy(desc(ticketEvents.id))
        .limit(1);
      return row?.id ?? null;
    },
  }),
);

interface LiveChange {
  at: Date;
  release: ReleaseRow;
  ticket: TicketRow;
}

const LiveChangeRef = builder.objectRef<LiveChange>('LiveChange').implement({
  description: 'A version becoming live: by a release, a rollback or a repair',
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime' }),
    release: t.field({ type: ReleaseRef, resolve: (c) => c.release }),
    ticket: t.field({ type: TicketRef, resolve: (c) => c.ticket }),
  }),
});

builder.objectField(ProjectRef, 'liveHistory', (t) =>
  t.field({
    type: [LiveChangeRef],
    description: 'What was live when: every deploy, rollback and repair that finished, newest first (at most `last`)',
    args: { last: t.arg.int({ defaultValue: 50 }) },
    resolve: async (project, args, { db }) => {
      const last = args.last ?? 50;
      if (last < 1 || last > 500) throw new BadUserInput('last', 'must be between 1 and 500');
      return db
        .select({ at: ticketEvents.at, release: releases, ticket: tickets })
        .from(ticketEvents)
        .innerJoin(tickets, eq(tickets.id, ticketEvents.ticketId))
        .innerJoin(releases, eq(releases.id, tickets.releaseId))
        .where(and(eq(ticketEvents.projectId, project.id), eq(ticketEvents.action, 'DEPLOYED')))
        .orderBy(desc(ticketEvents.id))
        .limit(last);
    },
  }),
);

builder.objectField(ProjectRef, 'liveRelease', (t) =>
  t.field({
    type: ReleaseRef,
    nullable: true,
    description: 'The version on the targets now (v0, the baseline, until the first release)',
    resolve: (project, _args, context) => (project.liveReleaseId ? loadRelease(context, project.liveReleaseId) : null),
  }),
);

builder.objectField(TargetRef, 'release', (t) =>
  t.field({
    type: ReleaseRef,
    nullable: true,
    description: 'The version Slipway last made live on this target',
    resolve: (target, _args, context) => (target.releaseId ? loadRelease(context, target.releaseId) : null),
  }),
);

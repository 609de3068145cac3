import {
  approvals,
  availableActions,
  BadUserInput,
  type Db,
  deployResults,
  type EventMessage,
  jobs,
  liveSince,
  memberships,
  NotFound,
  projects,
  type RevertCheck,
  releases,
  revertCheck,
  TICKET_ACTIONS,
  type TicketRow,
  targets,
  ticketChanges,
  ticketEvents,
  ticketKind,
  ticketState,
  tickets,
  users,
} from '@slipway/schema';
import { and, asc, desc, eq, getTableColumns, inArray, isNull, lt, ne, notExists, sql } from 'drizzle-orm';
import type { Repeater } from 'graphql-yoga';
import { prepared } from '../prepared.ts';
import { builder } from './builder.ts';
import type { Context, TicketPageRow } from './context.ts';
import { EnvironmentRef, loadEnvironment } from './environments.ts';
import { parseId } from './ids.ts';
import { followFeed, JobRef, type PathChange, PathChangeRef, TransferEnum } from './jobs.ts';
import { loadProject, ProjectRef, TargetRef } from './projects.ts';
import { loadRelease, ReleaseRef, type ReleaseRow, TicketChangeRef } from './releases.ts';
import { loadUser, UserRef, type UserRow } from './users.ts';

export type TicketEventRow = typeof ticketEvents.$inferSelect;
type ApprovalRow = typeof approvals.$inferSelect;
/** A target's outcome as listed: what changed there is read on its own, when asked (loaders.deployChanges). */
type DeployResultRow = Omit<typeof deployResults.$inferSelect, 'changes'>;
const { changes: _changes, ...DEPLOY_RESULT_LISTED } = getTableColumns(deployResults);

export const TicketStateEnum = builder.enumType('TicketState', { values: ticketState.enumValues });
const TicketKindEnum = builder.enumType('TicketKind', { values: ticketKind.enumValues });
const TicketActionEnum = builder.enumType('TicketAction', { values: TICKET_ACTIONS });
const TargetOutcomeEnum = builder.enumType('TargetOutcome', { values: ['OK', 'FAILED', 'SKIPPED'] as const });

export const TicketRef = builder.objectRef<TicketRow>('Ticket');
export const TicketEventRef = builder.objectRef<TicketEventRow>('TicketEvent');
const ApprovalRef = builder.objectRef<ApprovalRow>('Approval');
const DeployResultRef = builder.objectRef<DeployResultRow>('DeployResult');

/** The author read with each ticket of a ticket page (the same row objects are served while the page is kept). */
const authorsRead = new WeakMap<TicketRow, UserRow>();
/** Each page's connection, made once: a page kept in memory is served as the same edges and cursors. */
const connections = new WeakMap<readonly TicketPageRow[], TicketConnectionShape>();
interface TicketConnectionShape {
  edges: { cursor: string; node: TicketRow }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** The connection of a page read with one more row than asked (`first + 1`): that row says whether more follow. */
function connectionOf(rows: readonly TicketPageRow[], first: number): TicketConnectionShape {
  let connection = connections.get(rows);
  if (!connection) {
    const page = rows.slice(0, first);
    for (const { ticket, author } of page) authorsRead.set(ticket, author);
    connection = {
      edges: page.map(({ ticket }) => ({ cursor: cursorOf(ticket.id), node: ticket })),
      pageInfo: {
        hasNextPage: rows.length > first,
        endCursor: page.length ? cursorOf(page.at(-1)?.ticket.id ?? 0) : null,
      },
    };
    connections.set(rows, connection);
  }
  return connection;
}

export async function loadTicket(context: Context, id: number): Promise<TicketRow> {
  const [row] = await context.db.select().from(tickets).where(eq(tickets.id, id));
  if (!row) throw new NotFound('ticket', id);
  return row;
}

TicketRef.implement({
  description:
    'A release ticket, a promotion of a release to the next environment (PROMOTION), a rollback of an environment to an earlier release (ROLLBACK), a repair of drifted targets (REPAIR), or a revert of one release ticket’s change (REVERT)',
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.expose('kind', { type: TicketKindEnum }),
    state: t.expose('state', { type: TicketStateEnum }),
    reason: t.exposeString('reason'),
    paths: t.exposeStringList('paths', { description: 'Paths inside the working copy (empty for a rollback)' }),
    author: t.field({
      type: UserRef,
      // A ticket of a page came with its author (ticketPages): no loader, no promise.
      resolve: (ticket, _args, context) => authorsRead.get(ticket) ?? loadUser(context, ticket.authorId),
    }),
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
    approvalsNeeded: t.int({
      description:
        'Approvals the ticket needs in all (a promotion: its environment’s requiredApprovals; else the project’s)',
      resolve: async (ticket, _args, context) => {
        if (ticket.kind === 'PROMOTION') {
          const environment = (await context.loaders.environments.load(ticket.projectId)).find(
            (e) => e.id === ticket.environmentId,
          );
          if (environment) return environment.requiredApprovals;
        }
        return (await loadProject(context, ticket.projectId)).requiredApprovals;
      },
    }),
    approvers: t.field({
      type: [UserRef],
      description:
        'Who may approve it now: the project’s leads that have not yet (not its author, unless the project allows self-approval); any admin may too. Empty once it needs no more approval',
      resolve: async (ticket, _args, context) => {
        if (ticket.state !== 'AWAITING_APPROVAL') return [];
        const project = await loadProject(context, ticket.projectId);
        const rows = await context.db
          .select({ user: users })
          .from(memberships)
          .innerJoin(users, eq(users.id, memberships.userId))
          .where(
            and(
              eq(memberships.projectId, ticket.projectId),
              eq(memberships.role, 'LEAD'),
              eq(users.disabled, false),
              project.allowSelfApproval ? undefined : ne(users.id, ticket.authorId),
              notExists(
                context.db
                  .select({ id: approvals.id })
                  .from(approvals)
                  .where(and(eq(approvals.ticketId, ticket.id), eq(approvals.approverId, users.id))),
              ),
            ),
          )
          .orderBy(asc(users.name));
        return rows.map((r) => r.user);
      },
    }),
    jobs: t.field({
      type: [JobRef],
      resolve: (ticket, _args, { db }) =>
        db.select().from(jobs).where(eq(jobs.ticketId, ticket.id)).orderBy(asc(jobs.id)),
    }),
    environment: t.field({
      type: EnvironmentRef,
      description: 'Where it deploys: a release ticket, the first environment; a promotion, the one it promotes to',
      resolve: (ticket, _args, context) => loadEnvironment(context, ticket.environmentId),
    }),
    release: t.field({
      type: ReleaseRef,
      nullable: true,
      description: 'The version this ticket produced, or the one it promotes, rolls back to or restores',
      resolve: (ticket, _args, context) => (ticket.releaseId ? loadRelease(context, ticket.releaseId) : null),
    }),
    deployResults: t.field({
      type: [DeployResultRef],
      description: 'Per-target outcome of the latest deploy job',
      resolve: async (ticket, _args, { db }) => {
        const [latest] = await db
          .select({ id: jobs.id })
          .from(jobs)
          .where(and(eq(jobs.ticketId, ticket.id), inArray(jobs.kind, ['DEPLOY', 'PROMOTE', 'ROLLBACK', 'REPAIR'])))
          .orderBy(desc(jobs.id))
          .limit(1);
        if (!latest) return [];
        return db
          .select(DEPLOY_RESULT_LISTED)
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
        'STAGED_REVISION, STAGED_COMMIT (revision); STAGED_REVISION_UNCHANGED, STAGED_COMMIT_UNCHANGED (revision, ' +
        'version); LIVE (version); RESTORED, REVERTED (version, targets); REVERTED_NOTHING; SCHEDULED, ' +
        'SCHEDULED_OVERRIDE (at); SCHEDULE_NOT_STARTED (at, why: as the server said it); SOURCE_CERTIFICATE (detail), ' +
        'SOURCE_CREDENTIALS_NEEDED, SOURCE_CREDENTIALS_REFUSED (username), SOURCE_HOST_KEY, SOURCE_KEY_REFUSED; ' +
        'the full list is EVENT_SENTENCES in packages/schema/src/event-messages.ts',
    }),
    params: t.field({
      type: [EventParamRef],
      resolve: (m) => Object.entries(m.params).map(([name, value]) => ({ name, value })),
    }),
  }),
});

builder.objectField(ProjectRef, 'initFailure', (t) =>
  t.field({
    type: EventMessageRef,
    nullable: true,
    description:
      'Why checking out the staging copy failed, in words of no language when Slipway names the cause (initError has the English sentence and the command output)',
    resolve: (project) => (project.initFailure as EventMessage | null) ?? null,
  }),
);

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
      resolve: async (r, _args, context) =>
        ((await context.loaders.deployChanges.load(r.id))?.changes as PathChange[] | null | undefined) ?? null,
    }),
    changesCount: t.exposeInt('changesCount', { nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime' }),
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
const TicketConnection = builder.objectRef<TicketConnectionShape>('TicketConnection').implement({
  fields: (t) => ({
    edges: t.field({ type: [TicketEdge], resolve: (c) => c.edges }),
    pageInfo: t.field({ type: PageInfo, resolve: (c) => c.pageInfo }),
  }),
});

const cursorOf = (id: number) => Buffer.from(`ticket:${id}`).toString('base64url');
function parseCursor(cursor: string): number {
  const match = /^ticket:(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new BadUserInput('after', 'is not a cursor from this connection');
  return Number(match[1]);
}

export async function projectIdOfTicket(context: Context, id: string | number): Promise<number> {
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
      return connectionOf(rows, first);
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
}));

builder.objectField(ReleaseRef, 'ticket', (t) =>
  t.field({
    type: TicketRef,
    nullable: true,
    resolve: (r, _args, context) => (r.ticketId ? loadTicket(context, r.ticketId) : null),
  }),
);

builder.objectField(JobRef, 'ticket', (t) =>
  t.field({
    type: TicketRef,
    nullable: true,
    resolve: (job, _args, context) => (job.ticketId ? loadTicket(context, job.ticketId) : null),
  }),
);

builder.subscriptionFields((t) => ({
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
      const last: number | null = args.afterEventId == null ? null : Number(args.afterEventId);
      if (last !== null && !Number.isSafeInteger(last)) throw new BadUserInput('afterEventId', 'is not a valid id');
      return followFeed(context, projectId, (signal) =>
        context.feeds.ticketEvents(projectId, last, signal),
      ) as unknown as Repeater<TicketEventRow>;
    },
    resolve: (event) => event,
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

const RevertCheckRef = builder.objectRef<RevertCheck>('RevertCheck').implement({
  description:
    'Whether a deployed release ticket can be reverted now (requestRevert), and what the revert would put back',
  fields: (t) => ({
    ok: t.boolean({ resolve: (c) => c.problem === null }),
    code: t.string({
      nullable: true,
      description: 'Why not: REVERT_CONFLICT (see conflicts) or NOT_PROMOTABLE (its release is not part of what runs)',
      resolve: (c) => c.problem?.code ?? null,
    }),
    message: t.string({ nullable: true, resolve: (c) => c.problem?.message ?? null }),
    conflicts: t.field({
      type: [TicketRef],
      description: 'Tickets released since that changed its paths, newest first: revert them first',
      resolve: async (c, _args, context) => Promise.all(c.conflicts.map((later) => loadTicket(context, later.id))),
    }),
    builtOn: t.field({
      type: ReleaseRef,
      nullable: true,
      description: 'The release its paths go back to: the one its release was built on',
      resolve: (c) => c.builtOn,
    }),
  }),
});

builder.objectFields(TicketRef, (t) => ({
  reverts: t.field({
    type: TicketRef,
    nullable: true,
    description: 'A revert: the release ticket whose change it undoes',
    resolve: (ticket, _args, context) => (ticket.revertsTicketId ? loadTicket(context, ticket.revertsTicketId) : null),
  }),
  revertedBy: t.field({
    type: [TicketRef],
    description: 'Revert tickets filed for this release ticket, newest first (with their states)',
    resolve: (ticket, _args, { db }) =>
      db.select().from(tickets).where(eq(tickets.revertsTicketId, ticket.id)).orderBy(desc(tickets.id)),
  }),
  revertCheck: t.field({
    type: RevertCheckRef,
    nullable: true,
    description:
      'A deployed release ticket: whether requestRevert would take it now, and why not (null for other kinds and states)',
    resolve: async (ticket, _args, { db }) =>
      ticket.kind === 'RELEASE' && ticket.state === 'DEPLOYED' ? revertCheck(db, ticket) : null,
  }),
}));

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
  description: 'A version becoming live on an environment: by a release, a promotion, a rollback or a repair',
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime' }),
    release: t.field({ type: ReleaseRef, resolve: (c) => c.release }),
    ticket: t.field({ type: TicketRef, resolve: (c) => c.ticket }),
    environment: t.field({
      type: EnvironmentRef,
      resolve: (c, _args, context) => loadEnvironment(context, c.ticket.environmentId),
    }),
  }),
});

/** Every deploy that finished (of a project, or of one environment), newest first. */
function liveChanges(db: Context['db'], where: { projectId: number } | { environmentId: number }, last: number) {
  if (last < 1 || last > 500) throw new BadUserInput('last', 'must be between 1 and 500');
  return db
    .select({ at: ticketEvents.at, release: releases, ticket: tickets })
    .from(ticketEvents)
    .innerJoin(tickets, eq(tickets.id, ticketEvents.ticketId))
    .innerJoin(releases, eq(releases.id, tickets.releaseId))
    .where(
      and(
        'projectId' in where
          ? eq(ticketEvents.projectId, where.projectId)
          : eq(tickets.environmentId, where.environmentId),
        eq(ticketEvents.action, 'DEPLOYED'),
      ),
    )
    .orderBy(desc(ticketEvents.id))
    .limit(last);
}

builder.objectField(ProjectRef, 'liveHistory', (t) =>
  t.field({
    type: [LiveChangeRef],
    description:
      'What was live when, on every environment: each deploy, promotion, rollback and repair that finished, newest first (at most `last`)',
    args: { last: t.arg.int({ defaultValue: 50 }) },
    resolve: (project, args, { db }) => liveChanges(db, { projectId: project.id }, args.last ?? 50),
  }),
);

builder.objectField(EnvironmentRef, 'liveHistory', (t) =>
  t.field({
    type: [LiveChangeRef],
    description: 'What this environment ran when, newest first (at most `last`)',
    args: { last: t.arg.int({ defaultValue: 50 }) },
    resolve: (environment, args, { db }) => liveChanges(db, { environmentId: environment.id }, args.last ?? 50),
  }),
);

builder.objectField(EnvironmentRef, 'liveSince', (t) =>
  t.field({
    type: 'DateTime',
    nullable: true,
    description: 'When the version it runs went live there (null: the baseline, never deployed there)',
    resolve: (environment, _args, { db }) =>
      environment.liveReleaseId ? liveSince(db, environment.id, environment.liveReleaseId) : null,
  }),
);

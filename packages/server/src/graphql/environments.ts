import {
  activeFreeze,
  BadUserInput,
  type EnvironmentRow,
  environments,
  environmentsOf,
  httpUrl,
  identifierName,
  intRange,
  multilineText,
  NotFound,
  notifyChannels,
  parseInput,
  projects,
  type Tx,
  targets,
  textLine,
  tickets,
} from '@slipway/schema';
import { and, asc, count, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { parseId } from './ids.ts';
import { FreezeRef, loadProject, ProjectRef, TargetRef } from './projects.ts';
import { loadRelease, ReleaseRef } from './releases.ts';

// A project's environments (qa, gray, production…): each with its own targets, freeze, live version and, where set,
// deploy settings. Releases travel through them in order (promotion, in ticket-actions.ts).

export const EnvironmentRef = builder.objectRef<EnvironmentRow>('Environment');

export async function loadEnvironment(context: Pick<Context, 'db'>, id: number): Promise<EnvironmentRow> {
  const [row] = await context.db.select().from(environments).where(eq(environments.id, id));
  if (!row) throw new NotFound('environment', id);
  return row;
}

EnvironmentRef.implement({
  description:
    'A step releases travel through, in order (the first: where release tickets deploy); its deploy settings are null where the project’s apply',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    position: t.exposeInt('position', { description: 'Its place in the order, from 0 (the first environment)' }),
    project: t.field({ type: ProjectRef, resolve: (e, _args, context) => loadProject(context, e.projectId) }),
    targets: t.field({
      type: [TargetRef],
      resolve: (e, _args, { db }) =>
        db
          .select()
          .from(targets)
          .where(eq(targets.environmentId, e.id))
          .orderBy(asc(targets.position), asc(targets.name)),
    }),
    requiredApprovals: t.exposeInt('requiredApprovals', {
      description: 'Approvals a promotion into this environment needs (0: approved when asked)',
    }),
    bakeMinutes: t.exposeInt('bakeMinutes', {
      description: 'How long a release must have been live on the environment before this one before it may come here',
    }),
    frozen: t.boolean({
      description: 'Whether deploys here are frozen now (by this environment’s freeze or the project’s)',
      resolve: async (e, _args, context) => activeFreeze(await loadProject(context, e.projectId), e) !== null,
    }),
    freeze: t.field({
      type: FreezeRef,
      nullable: true,
      description: 'The freeze in force here now: the project’s, else this environment’s own',
      resolve: async (e, _args, context) => activeFreeze(await loadProject(context, e.projectId), e),
    }),
    freezeReason: t.string({
      nullable: true,
      description: 'This environment’s own freeze (freezeEnvironment), while it lasts',
      resolve: (e) => activeFreeze({ frozenReason: null, frozenUntil: null, frozenById: null }, e)?.reason ?? null,
    }),
    frozenUntil: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (e) => activeFreeze({ frozenReason: null, frozenUntil: null, frozenById: null }, e)?.until ?? null,
    }),
    liveRelease: t.field({
      type: ReleaseRef,
      nullable: true,
      description: 'The version this environment runs (the baseline until its first deploy)',
      resolve: (e, _args, context) => (e.liveReleaseId ? loadRelease(context, e.liveReleaseId) : null),
    }),
    parallelism: t.exposeInt('parallelism', { nullable: true, description: 'Null: the project’s' }),
    batchSize: t.exposeInt('batchSize', { nullable: true, description: 'The canary batch; null: the project’s' }),
    preDeploy: t.exposeString('preDeploy', { nullable: true, description: 'Null: the project’s' }),
    postDeploy: t.exposeString('postDeploy', { nullable: true, description: 'Null: the project’s' }),
    healthCheckUrl: t.exposeString('healthCheckUrl', { nullable: true, description: 'Null: the project’s' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.objectField(ProjectRef, 'environments', (t) =>
  t.field({
    type: [EnvironmentRef],
    description: 'The environments releases travel through, in order; always at least one',
    resolve: (project, _args, { db }) => environmentsOf(db, project.id),
  }),
);

builder.objectField(TargetRef, 'environment', (t) =>
  t.field({
    type: EnvironmentRef,
    resolve: (target, _args, context) => loadEnvironment(context, target.environmentId),
  }),
);

builder.objectField(ReleaseRef, 'liveIn', (t) =>
  t.field({
    type: [EnvironmentRef],
    description: 'The environments this version runs on now',
    resolve: (release, _args, { db }) =>
      db
        .select()
        .from(environments)
        .where(eq(environments.liveReleaseId, release.id))
        .orderBy(asc(environments.position), asc(environments.id)),
  }),
);

const EnvironmentInput = builder.inputType('EnvironmentInput', {
  description: 'Deploy settings left null are the project’s',
  fields: (t) => ({
    name: t.string({ description: 'e.g. qa, gray, production' }),
    requiredApprovals: t.int({ description: 'Approvals a promotion here needs, 0-10 (default 1)' }),
    bakeMinutes: t.int({
      description: 'Minutes a release must have run on the environment before this one, 0-43200 (default 0)',
    }),
    parallelism: t.int(),
    batchSize: t.int(),
    preDeploy: t.string(),
    postDeploy: t.string(),
    healthCheckUrl: t.string(),
  }),
});

const environmentFields = z.object({
  name: identifierName,
  requiredApprovals: intRange(0, 10),
  bakeMinutes: intRange(0, 43200),
  parallelism: intRange(1, 100).nullable(),
  batchSize: intRange(1, 100).nullable(),
  preDeploy: multilineText(4000).nullable(),
  postDeploy: multilineText(4000).nullable(),
  healthCheckUrl: httpUrl.nullable(),
});
const newEnvironment = environmentFields.partial().required({ name: true });
const changedEnvironment = environmentFields.partial();

/** Environment names are unique in a project (whatever their case). */
async function assertEnvironmentNameFree(tx: Tx, projectId: number, name: string, exceptId?: number) {
  const [taken] = await tx
    .select({ id: environments.id })
    .from(environments)
    .where(and(eq(environments.projectId, projectId), sql`lower(${environments.name}) = lower(${name})`));
  if (taken && taken.id !== exceptId)
    throw new BadUserInput('input.name', `the project already has an environment named "${name}"`);
}

/** The project row, locked: environment changes of one project take turns. */
async function lockProjectRow(tx: Tx, projectId: number) {
  const [project] = await tx.select().from(projects).where(eq(projects.id, projectId)).for('update');
  if (!project) throw new NotFound('project', projectId);
  return project;
}

const leadOrAdmin = (projectId: number) => ({
  $any: { admin: true, member: { projectId, role: 'LEAD' as const } },
});

async function projectIdOfEnvironment(context: Context, id: string | number): Promise<number> {
  return (await loadEnvironment(context, parseId(id, 'environmentId'))).projectId;
}

builder.mutationFields((t) => ({
  addEnvironment: t.field({
    type: EnvironmentRef,
    description:
      'Adds an environment after the project’s others (admins); it runs the first environment’s version until its first promotion',
    authScopes: { admin: true },
    args: {
      projectId: t.arg.id({ required: true }),
      input: t.arg({ type: EnvironmentInput, required: true }),
    },
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const input = parseInput(newEnvironment, args.input, 'input');
      return context.db.transaction(async (tx) => {
        await lockProjectRow(tx, projectId);
        await assertEnvironmentNameFree(tx, projectId, input.name);
        const all = await environmentsOf(tx, projectId);
        const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v != null));
        const [row] = await tx
          .insert(environments)
          .values({
            ...given,
            name: input.name,
            projectId,
            position: (all.at(-1)?.position ?? -1) + 1,
            // What its targets are taken to run before anything is promoted there: the baseline.
            liveReleaseId: all[0]?.liveReleaseId ?? null,
          })
          .returning();
        return row as EnvironmentRow;
      });
    },
  }),
  updateEnvironment: t.field({
    type: EnvironmentRef,
    description: 'Changes an environment (admins); absent fields stay, null deploy settings become the project’s',
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: EnvironmentInput, required: true }) },
    resolve: async (_root, args, context) => {
      const id = parseId(args.id, 'id');
      const input = parseInput(changedEnvironment, args.input, 'input');
      const current = await loadEnvironment(context, id);
      return context.db.transaction(async (tx) => {
        if (input.name) await assertEnvironmentNameFree(tx, current.projectId, input.name, id);
        const changes = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
        if (Object.keys(changes).length === 0) return current;
        const [row] = await tx.update(environments).set(changes).where(eq(environments.id, id)).returning();
        return row as EnvironmentRow;
      });
    },
  }),
  removeEnvironment: t.boolean({
    description:
      'Removes an environment (admins): refused while it has targets, is the project’s only one, or has tickets (its history)',
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = parseId(args.id, 'id');
      const environment = await loadEnvironment(context, id);
      return context.db.transaction(async (tx) => {
        await lockProjectRow(tx, environment.projectId);
        const all = await environmentsOf(tx, environment.projectId);
        if (all.length <= 1) throw new BadUserInput('id', 'is the project’s only environment');
        const [held] = await tx.select({ n: count() }).from(targets).where(eq(targets.environmentId, id));
        if (held?.n)
          throw new BadUserInput(
            'id',
            `has ${held.n} target(s): move them to another environment or remove them first`,
          );
        const [history] = await tx.select({ n: count() }).from(tickets).where(eq(tickets.environmentId, id));
        if (history?.n) throw new BadUserInput('id', `has a history of ${history.n} ticket(s): it is kept`);
        await tx.delete(environments).where(eq(environments.id, id));
        // The others close up, in the same order.
        for (const [position, other] of all.filter((e) => e.id !== id).entries())
          await tx.update(environments).set({ position }).where(eq(environments.id, other.id));
        return true;
      });
    },
  }),
  setEnvironmentOrder: t.field({
    type: ProjectRef,
    description:
      'Sets the order releases travel through the environments (admins): every environment of the project, once; the first is where release tickets deploy',
    authScopes: { admin: true },
    args: { projectId: t.arg.id({ required: true }), environmentIds: t.arg.idList({ required: true }) },
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const ids = args.environmentIds.map((id, i) => parseId(id, `environmentIds.${i}`));
      return context.db.transaction(async (tx) => {
        const project = await lockProjectRow(tx, projectId);
        const all = await environmentsOf(tx, projectId);
        if (new Set(ids).size !== ids.length) throw new BadUserInput('environmentIds', 'names an environment twice');
        const stranger = ids.find((id) => !all.some((e) => e.id === id));
        if (stranger !== undefined)
          throw new BadUserInput('environmentIds', `environment ${stranger} is not one of the project's environments`);
        if (ids.length !== all.length)
          throw new BadUserInput(
            'environmentIds',
            `must name every environment of the project (${all.length}), in order`,
          );
        for (const [position, id] of ids.entries())
          await tx.update(environments).set({ position }).where(eq(environments.id, id));
        return project;
      });
    },
  }),
  freezeEnvironment: t.field({
    type: EnvironmentRef,
    description: 'Stops deploys, promotions and rollbacks to one environment (FROZEN) until `until`, or until unfrozen',
    args: {
      environmentId: t.arg.id({ required: true }),
      reason: t.arg.string({ required: true }),
      until: t.arg({ type: 'DateTime' }),
    },
    authScopes: async (_root, args, context) => leadOrAdmin(await projectIdOfEnvironment(context, args.environmentId)),
    resolve: async (_root, args, context) => {
      const id = parseId(args.environmentId, 'environmentId');
      const reason = parseInput(textLine(500), args.reason, 'reason');
      if (args.until && args.until <= new Date()) throw new BadUserInput('until', 'must be in the future');
      return context.db.transaction(async (tx) => {
        const [row] = await tx
          .update(environments)
          .set({ frozenReason: reason, frozenUntil: args.until ?? null, frozenById: context.viewer?.id ?? null })
          .where(eq(environments.id, id))
          .returning();
        if (!row) throw new NotFound('environment', id);
        await notifyChannels(tx, row.projectId, 'FREEZE_STARTED', {
          freeze: {
            reason,
            until: args.until?.toISOString() ?? null,
            byId: context.viewer?.id ?? null,
            environment: row.name,
          },
        });
        return row;
      });
    },
  }),
  unfreezeEnvironment: t.field({
    type: EnvironmentRef,
    args: { environmentId: t.arg.id({ required: true }) },
    authScopes: async (_root, args, context) => leadOrAdmin(await projectIdOfEnvironment(context, args.environmentId)),
    resolve: async (_root, args, context) => {
      const id = parseId(args.environmentId, 'environmentId');
      return context.db.transaction(async (tx) => {
        const [row] = await tx
          .update(environments)
          .set({ frozenReason: null, frozenUntil: null, frozenById: null })
          .where(eq(environments.id, id))
          .returning();
        if (!row) throw new NotFound('environment', id);
        await notifyChannels(tx, row.projectId, 'FREEZE_ENDED', {
          freeze: { byId: context.viewer?.id ?? null, environment: row.name },
        });
        return row;
      });
    },
  }),
}));

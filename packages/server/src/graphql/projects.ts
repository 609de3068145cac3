import {
  absolutePath,
  activeFreeze,
  BadUserInput,
  branchName,
  type EnvironmentRow,
  enqueueJob,
  environmentsOf,
  type Freeze,
  gitUrl,
  hostName,
  httpUrl,
  identifierName,
  intRange,
  memberships,
  multilineText,
  NotFound,
  notifyChannels,
  OPEN_STATES,
  parseInput,
  pathPrefix,
  pathsConflict,
  projects,
  releases,
  role,
  rsyncExclude,
  sharedPaths,
  sourceCredentials,
  svnUrl,
  systemUser,
  type Tx,
  targets,
  targetVerifications,
  textLine,
  tickets,
  users,
} from '@slipway/schema';
import { and, asc, count, eq, inArray, isNull, max, sql } from 'drizzle-orm';
import { z } from 'zod';
import { builder } from './builder.ts';
import { type Context, sealed } from './context.ts';
import { parseId } from './ids.ts';
import { isSelfOrAdmin, loadUser, UserRef } from './users.ts';

export type ProjectRow = typeof projects.$inferSelect;
export type TargetRow = typeof targets.$inferSelect;
export type MembershipRow = typeof memberships.$inferSelect;

export const RoleEnum = builder.enumType('Role', {
  description: 'Project roles; each includes the rights of the ones before it, approving is the lead’s alone',
  values: role.enumValues,
});
const SourceTypeEnum = builder.enumType('SourceType', { values: ['SVN', 'GIT'] as const });
const DeployModeEnum = builder.enumType('DeployMode', { values: ['IN_PLACE', 'ATOMIC'] as const });

export const ProjectRef = builder.objectRef<ProjectRow>('Project');

export const FreezeRef = builder.objectRef<Freeze>('Freeze').implement({
  fields: (t) => ({
    reason: t.exposeString('reason'),
    until: t.expose('until', { type: 'DateTime', nullable: true, description: 'Null: until it is lifted' }),
    by: t.field({
      type: UserRef,
      nullable: true,
      resolve: (f, _args, context) => (f.byId ? loadUser(context, f.byId) : null),
    }),
  }),
});
export const TargetRef = builder.objectRef<TargetRow>('Target');
export const MembershipRef = builder.objectRef<MembershipRow>('Membership');

export async function loadProject(context: Context, id: number): Promise<ProjectRow> {
  const row = await context.loaders.project.load(id);
  if (!row) throw new NotFound('project', id);
  return row;
}

/** After a change, later reads in the same request see the new row. */
function remember(context: Context, row: ProjectRow): ProjectRow {
  context.loaders.project.clear(row.id).prime(row.id, row);
  return row;
}

ProjectRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    sourceType: t.expose('sourceType', { type: SourceTypeEnum }),
    sourceUrl: t.exposeString('sourceUrl'),
    branch: t.exposeString('branch', { nullable: true }),
    stagingPath: t.exposeString('stagingPath'),
    stagingUrl: t.exposeString('stagingUrl', { nullable: true }),
    deployMode: t.expose('deployMode', { type: DeployModeEnum }),
    keepReleases: t.exposeInt('keepReleases'),
    excludes: t.exposeStringList('excludes'),
    parallelism: t.exposeInt('parallelism'),
    batchSize: t.exposeInt('batchSize'),
    requiredApprovals: t.exposeInt('requiredApprovals'),
    allowSelfApproval: t.exposeBoolean('allowSelfApproval'),
    allowAuthorPassTest: t.exposeBoolean('allowAuthorPassTest', {
      description: 'Whether an author may pass the test of their own ticket (else a tester must)',
    }),
    allowSvnExternals: t.exposeBoolean('allowSvnExternals', {
      description: 'Whether staging follows svn:externals (they can name any repository the executor reaches)',
    }),
    deployTimeoutMinutes: t.exposeInt('deployTimeoutMinutes', {
      description: 'A deploy or rollback that runs longer is stopped (its commands killed) and fails',
    }),
    alwaysFullSync: t.exposeBoolean('alwaysFullSync', {
      description: 'Every deploy sends every file to every target (off: only the changed files, where it can)',
    }),
    verifyIntervalMinutes: t.exposeInt('verifyIntervalMinutes', {
      description: 'Minutes between scheduled verifications of the targets (0: none)',
    }),
    verifyBeforeDeploy: t.exposeBoolean('verifyBeforeDeploy', {
      description: 'A deploy verifies each target first; a drifted one gets a full sync by checksum',
    }),
    sshKeyPath: t.exposeString('sshKeyPath', {
      nullable: true,
      description: "Private key on the executor host that reaches the targets; null: Slipway's own (sshPublicKey)",
    }),
    knownHostsPath: t.exposeString('knownHostsPath', {
      nullable: true,
      description: "known_hosts file on the executor host; null: Slipway's own, holding the host keys admins trusted",
    }),
    sharedPaths: t.exposeStringList('sharedPaths', {
      description:
        'Paths that belong to the servers (uploads, logs): never shipped, never deleted, kept across releases and rollbacks (atomic: <path>/shared/<p>, linked into each release)',
    }),
    sourceCaFile: t.exposeString('sourceCaFile', {
      nullable: true,
      description:
        "CA certificate (PEM, on the executor host) the source's https server is verified with, besides the system's",
    }),
    archived: t.boolean({
      description: 'Archived projects leave the lists and take no new tickets (their history stays)',
      resolve: (project) => project.archivedAt !== null,
    }),
    archivedAt: t.expose('archivedAt', { type: 'DateTime', nullable: true }),
    nextReleaseTag: t.string({
      description: 'The tag the next deploy of a ticket makes (v<highest number + 1>)',
      resolve: async (project, _args, { db }) => {
        const [row] = await db
          .select({ last: max(releases.number) })
          .from(releases)
          .where(eq(releases.projectId, project.id));
        return `v${(row?.last ?? 0) + 1}`;
      },
    }),
    sourceSshKeyPath: t.exposeString('sourceSshKeyPath', {
      nullable: true,
      description: 'The key staging signs in to an svn+ssh:// or ssh git source with, on the executor host',
    }),
    preDeploy: t.exposeString('preDeploy', { nullable: true }),
    postDeploy: t.exposeString('postDeploy', { nullable: true }),
    healthCheckUrl: t.exposeString('healthCheckUrl', { nullable: true }),
    healthCheckTimeoutSeconds: t.exposeInt('healthCheckTimeoutSeconds'),
    freeze: t.field({
      type: FreezeRef,
      nullable: true,
      description: 'The deploy freeze in force now, if any: deploys and rollbacks are refused with FROZEN',
      resolve: (project) => activeFreeze(project),
    }),
    ready: t.exposeBoolean('ready', { description: 'True once the staging copy is checked out and the ledger exists' }),
    initError: t.exposeString('initError', {
      nullable: true,
      description: 'Why checking out the staging copy failed, when it did',
    }),
    pool: t.exposeString('pool'),
    bandwidthLimit: t.exposeInt('bandwidthLimit', { nullable: true, description: 'KiB/s per target' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    viewerRole: t.field({
      type: RoleEnum,
      nullable: true,
      description:
        "The role the signed-in user acts with in this project: their membership's; LEAD for an admin (who may do any lead's work)",
      resolve: (project, _args, context) => context.roleIn(project.id),
    }),
    targets: t.field({
      type: [TargetRef],
      resolve: (project, _args, { db }) =>
        db
          .select()
          .from(targets)
          .where(eq(targets.projectId, project.id))
          .orderBy(asc(targets.position), asc(targets.name)),
    }),
    members: t.field({
      type: [MembershipRef],
      resolve: (project, _args, { db }) => membershipsOf(db, { projectId: project.id }),
    }),
  }),
});

TargetRef.implement({
  description: 'A production destination: a local path, or `[user@]host[:port]:/path` over ssh',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    host: t.exposeString('host', { nullable: true, description: 'Null for a local path' }),
    port: t.exposeInt('port', { nullable: true }),
    user: t.exposeString('user', { nullable: true }),
    path: t.exposeString('path'),
    position: t.exposeInt('position', {
      description: 'Where the target comes in a deploy (setTargetOrder); the first batchSize are the canary',
    }),
    canary: t.boolean({
      description: 'Whether the target is in the first (canary) batch of a deploy',
      resolve: async (target, _args, context) => (await context.loaders.canary.load(target.projectId)).has(target.id),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    project: t.field({ type: ProjectRef, resolve: (target, _args, context) => loadProject(context, target.projectId) }),
  }),
});

/** A project's members (by login), or a user's projects (by project name). */
async function membershipsOf(
  db: Context['db'],
  of: { projectId: number } | { userId: number },
): Promise<MembershipRow[]> {
  const rows = db.select({ membership: memberships }).from(memberships);
  const found =
    'projectId' in of
      ? await rows
          .innerJoin(users, eq(users.id, memberships.userId))
          .where(eq(memberships.projectId, of.projectId))
          .orderBy(asc(users.login))
      : await rows
          .innerJoin(projects, eq(projects.id, memberships.projectId))
          .where(eq(memberships.userId, of.userId))
          .orderBy(asc(projects.name));
  return found.map((r) => r.membership);
}

builder.objectField(UserRef, 'memberships', (t) =>
  t.field({
    type: [MembershipRef],
    description: "The user's projects and roles (the user themself and admins only)",
    authScopes: (user, _args, context) => isSelfOrAdmin(user, context),
    resolve: (user, _args, { db }) => membershipsOf(db, { userId: user.id }),
  }),
);

MembershipRef.implement({
  fields: (t) => ({
    role: t.expose('role', { type: RoleEnum }),
    user: t.field({ type: UserRef, resolve: (m, _args, context) => loadUser(context, m.userId) }),
    project: t.field({ type: ProjectRef, resolve: (m, _args, context) => loadProject(context, m.projectId) }),
  }),
});

// rsync, svn (SVN_SSH) and git (GIT_SSH_COMMAND) take the ssh command as one string they split themselves: a path
// with white space, quotes or backslashes could not be passed intact.
const sshFilePath = absolutePath.refine((p) => !/[\s'"\\]/.test(p), {
  message: 'must not contain white space, quotes or backslashes',
});

const settingsFields = {
  stagingUrl: httpUrl.nullable(),
  deployMode: z.enum(['IN_PLACE', 'ATOMIC']),
  keepReleases: intRange(1, 100),
  excludes: z.array(rsyncExclude).max(100, 'must have at most 100 entries'),
  parallelism: intRange(1, 100),
  batchSize: intRange(1, 100),
  requiredApprovals: intRange(1, 10),
  allowSelfApproval: z.boolean(),
  allowAuthorPassTest: z.boolean(),
  allowSvnExternals: z.boolean(),
  alwaysFullSync: z.boolean(),
  deployTimeoutMinutes: intRange(1, 1440),
  verifyIntervalMinutes: intRange(0, 10080),
  verifyBeforeDeploy: z.boolean(),
  sshKeyPath: sshFilePath.nullable(),
  knownHostsPath: sshFilePath.nullable(),
  sourceSshKeyPath: sshFilePath.nullable(),
  // svn takes a list of CA files separated by ";".
  sourceCaFile: absolutePath.refine((p) => !p.includes(';'), { message: 'must not contain ";"' }).nullable(),
  sharedPaths,
  preDeploy: multilineText(4000).nullable(),
  postDeploy: multilineText(4000).nullable(),
  healthCheckUrl: httpUrl.nullable(),
  healthCheckTimeoutSeconds: intRange(1, 600),
  bandwidthLimit: intRange(1, 10_000_000).nullable(),
  pool: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"'),
};

const credentialUser = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { message: 'must not contain control characters' });
// svn reads the password as one line from stdin: no line breaks (nor other control characters).
const credentialSecret = z
  .string()
  .min(1, 'must not be empty')
  .max(4096, 'must be at most 4096 characters')
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { message: 'must not contain control characters' });

const projectSettings = z.object(settingsFields).partial();

const createProjectInput = projectSettings
  .extend({
    name: identifierName,
    sourceType: z.enum(['SVN', 'GIT']),
    sourceUrl: z.string(),
    branch: branchName.nullish(),
    stagingPath: absolutePath,
    sourceUsername: credentialUser.nullish(),
    sourceSecret: credentialSecret.nullish(),
  })
  .superRefine((input, ctx) => {
    if ((input.sourceUsername == null) !== (input.sourceSecret == null))
      ctx.addIssue({
        code: 'custom',
        path: [input.sourceUsername == null ? 'sourceUsername' : 'sourceSecret'],
        message: 'is required',
      });
    const url = (input.sourceType === 'SVN' ? svnUrl : gitUrl).safeParse(input.sourceUrl);
    if (!url.success)
      ctx.addIssue({ code: 'custom', path: ['sourceUrl'], message: url.error.issues[0]?.message ?? '' });
    if (input.sourceType === 'SVN' && input.branch)
      ctx.addIssue({ code: 'custom', path: ['branch'], message: 'applies to git sources only' });
  });

// A null in an update clears an optional setting; an absent field stays as it is.
const updateProjectInput = projectSettings.extend({
  name: identifierName.optional(),
  sourceUrl: z.string().optional(),
  branch: branchName.optional(),
  stagingPath: absolutePath.optional(),
});

const CreateProjectInput = builder.inputType('CreateProjectInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    sourceType: t.field({ type: SourceTypeEnum, required: true }),
    sourceUrl: t.string({ required: true }),
    branch: t.string({ description: 'Git sources only; default "main"' }),
    stagingPath: t.string({ required: true, description: 'Absolute path of the staging working copy' }),
    stagingUrl: t.string(),
    deployMode: t.field({ type: DeployModeEnum, description: 'Default IN_PLACE' }),
    keepReleases: t.int({ description: 'Atomic mode: releases kept on each target, 1-100 (default 5)' }),
    excludes: t.stringList({ description: 'rsync exclude patterns, besides .svn and .git' }),
    parallelism: t.int({ description: 'Targets worked at once, 1-100 (default 10)' }),
    batchSize: t.int({ description: 'Size of the first (canary) batch, 1-100 (default 1)' }),
    requiredApprovals: t.int({ description: '1-10 (default 1)' }),
    allowSelfApproval: t.boolean({ description: 'Whether an author may approve their own ticket (default false)' }),
    allowAuthorPassTest: t.boolean({
      description: 'Whether an author may pass the test of their own ticket (default false: a tester must)',
    }),
    allowSvnExternals: t.boolean({
      description: 'Whether staging follows svn:externals (default false: they can name any repository)',
    }),
    alwaysFullSync: t.boolean({ description: 'Every deploy sends every file to every target (default false)' }),
    deployTimeoutMinutes: t.int({ description: 'Time limit of a deploy or rollback job, 1-1440 minutes (default 30)' }),
    verifyIntervalMinutes: t.int({
      description: 'Minutes between scheduled verifications of the targets, 0 (none) or 1-10080 (default 15)',
    }),
    verifyBeforeDeploy: t.boolean({ description: 'Verify each target before a deploy builds on it (default false)' }),
    sshKeyPath: t.string({
      description:
        "Private key on the executor host for the targets (default: Slipway's own, see sshPublicKey); never stored in the database",
    }),
    knownHostsPath: t.string({
      description: "known_hosts on the executor host for the targets (default: Slipway's own, see trustHostKey)",
    }),
    sourceSshKeyPath: t.string({
      description:
        'Private key on the executor host for an svn+ssh:// or ssh git source (host keys: knownHostsPath, else the executor user’s)',
    }),
    preDeploy: t.string(),
    postDeploy: t.string(),
    healthCheckUrl: t.string({ description: 'Polled after a switch; {host} is replaced per target' }),
    healthCheckTimeoutSeconds: t.int({
      description: 'How long the health check may take to answer 2xx, 1-600 (default 30)',
    }),
    pool: t.string({ description: 'Executor pool that runs this project’s jobs (default "default")' }),
    bandwidthLimit: t.int({ description: 'rsync bandwidth limit per target in KiB/s (default: none)' }),
    sharedPaths: t.stringList({
      description:
        'Paths that belong to the servers, e.g. "uploads", "runtime/logs": never shipped nor deleted (default none)',
    }),
    sourceCaFile: t.string({
      description: 'CA certificate (PEM) on the executor host for a source over https signed by a private CA',
    }),
    sourceUsername: t.string({ description: 'The repository username staging signs in with (with sourceSecret)' }),
    sourceSecret: t.string({ description: 'Its password or token, stored sealed; never answered' }),
  }),
});

const UpdateProjectInput = builder.inputType('UpdateProjectInput', {
  description:
    'Absent fields stay as they are; null clears an optional setting. A new source URL, branch or staging path (refused while tickets are open) checks the staging copy out anew (svn: relocated; git: the new remote and branch); the ledger and its releases stay',
  fields: (t) => ({
    name: t.string(),
    sourceUrl: t.string({ description: 'Of the same kind (svn or git) as before' }),
    branch: t.string({ description: 'Git sources only' }),
    stagingPath: t.string(),
    stagingUrl: t.string(),
    deployMode: t.field({ type: DeployModeEnum }),
    keepReleases: t.int(),
    excludes: t.stringList(),
    parallelism: t.int(),
    batchSize: t.int(),
    requiredApprovals: t.int(),
    allowSelfApproval: t.boolean(),
    allowAuthorPassTest: t.boolean(),
    allowSvnExternals: t.boolean(),
    alwaysFullSync: t.boolean(),
    deployTimeoutMinutes: t.int(),
    verifyIntervalMinutes: t.int(),
    verifyBeforeDeploy: t.boolean(),
    sshKeyPath: t.string(),
    knownHostsPath: t.string(),
    sourceSshKeyPath: t.string(),
    preDeploy: t.string(),
    postDeploy: t.string(),
    healthCheckUrl: t.string(),
    healthCheckTimeoutSeconds: t.int(),
    pool: t.string(),
    bandwidthLimit: t.int(),
    sharedPaths: t.stringList(),
    sourceCaFile: t.string(),
  }),
});

const TargetInput = builder.inputType('TargetInput', {
  description: 'No host means a local path on the executor host',
  fields: (t) => ({
    name: t.string({ required: true }),
    host: t.string(),
    port: t.int(),
    user: t.string(),
    path: t.string({ required: true }),
    environmentId: t.id({
      description: 'The environment it serves: required when the project has more than one, else its only one',
    }),
  }),
});

const targetInput = z
  .object({
    name: identifierName,
    host: hostName.nullish(),
    port: intRange(1, 65535).nullish(),
    user: systemUser.nullish(),
    path: absolutePath,
    environmentId: z.union([z.string(), z.number()]).nullish(),
  })
  .superRefine((input, ctx) => {
    if (!input.host && (input.port != null || input.user != null))
      ctx.addIssue({ code: 'custom', path: ['host'], message: 'is required when port or user is given' });
  });

/**
 * The environment a target goes to: the one named (it must be the project's), else the project's only one; a project
 * with more than one must name it.
 */
export async function environmentForTarget(
  db: Context['db'] | Tx,
  projectId: number,
  environmentId: string | number | null | undefined,
): Promise<EnvironmentRow> {
  const all = await environmentsOf(db, projectId);
  if (environmentId == null) {
    if (all.length === 1) return all[0] as EnvironmentRow;
    throw new BadUserInput('input.environmentId', 'is required when the project has more than one environment');
  }
  const id = parseId(environmentId, 'input.environmentId');
  const found = all.find((e) => e.id === id);
  if (!found)
    throw new BadUserInput('input.environmentId', `environment ${id} is not one of the project's environments`);
  return found;
}

/** A project whose initialisation failed starts it again (after its source credentials or keys changed). */
async function initAgainIfFailed(tx: Tx, project: ProjectRow): Promise<ProjectRow> {
  if (project.ready || !project.initError) return project;
  const [row] = await tx
    .update(projects)
    .set({ initError: null, initFailure: null, updatedAt: sql`now()` })
    .where(eq(projects.id, project.id))
    .returning();
  await enqueueJob(tx, { projectId: project.id, kind: 'INIT_PROJECT', pool: project.pool });
  return row ?? project;
}

/**
 * One staging copy per project: two projects on one path (or one inside the other) would share files and break the
 * one-ticket-per-path rule. Creations and moves take turns for this check (an advisory lock).
 */
async function assertStagingFree(tx: Tx, stagingPath: string, exceptId?: number): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext('slipway.staging-paths'))`);
  const others = await tx
    .select({ id: projects.id, name: projects.name, stagingPath: projects.stagingPath })
    .from(projects);
  const clash = others.find((p) => p.id !== exceptId && pathsConflict(p.stagingPath, stagingPath));
  if (clash)
    throw new BadUserInput(
      'input.stagingPath',
      clash.stagingPath === stagingPath
        ? `is already the staging path of project ${clash.name}`
        : `overlaps ${clash.stagingPath}, the staging path of project ${clash.name}`,
    );
}

async function assertNameFree(context: Context, name: string, exceptId?: number): Promise<void> {
  const [taken] = await context.db
    .select({ id: projects.id })
    .from(projects)
    .where(sql`lower(${projects.name}) = lower(${name})`);
  if (taken && taken.id !== exceptId) throw new BadUserInput('input.name', `a project named "${name}" already exists`);
}

builder.queryFields((t) => ({
  projects: t.field({
    type: [ProjectRef],
    description:
      'Every project for admins; the projects the user is a member of for everyone else; archived ones only when asked',
    authScopes: { authenticated: true },
    args: { includeArchived: t.arg.boolean({ defaultValue: false }) },
    resolve: (_root, args, { db, viewer }) => {
      const shown = args.includeArchived ? undefined : isNull(projects.archivedAt);
      return viewer?.isAdmin
        ? db.select().from(projects).where(shown).orderBy(asc(projects.name))
        : db
            .select({ project: projects })
            .from(projects)
            .innerJoin(memberships, eq(memberships.projectId, projects.id))
            .where(and(eq(memberships.userId, viewer?.id ?? 0), shown))
            .orderBy(asc(projects.name))
            .then((rows) => rows.map((r) => r.project));
    },
  }),
  project: t.field({
    type: ProjectRef,
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({
      $any: { admin: true, member: { projectId: parseId(args.id, 'id'), role: 'VIEWER' } },
    }),
    resolve: (_root, args, context) => loadProject(context, parseId(args.id, 'id')),
  }),
  stagingPaths: t.stringList({
    description:
      'Paths in the staging copy under prefix, for suggestions: first those at the level the prefix reaches into ' +
      '(directories first, ending with "/"; one named exactly by the prefix before all), then deeper ones; at most ' +
      '`first`',
    args: {
      projectId: t.arg.id({ required: true }),
      prefix: t.arg.string({ defaultValue: '' }),
      first: t.arg.int({ defaultValue: 50 }),
    },
    authScopes: (_root, args) => ({
      $any: { admin: true, member: { projectId: parseId(args.projectId, 'projectId'), role: 'DEVELOPER' } },
    }),
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const prefix = parseInput(pathPrefix, args.prefix ?? '', 'prefix');
      const first = parseInput(intRange(1, 500), args.first ?? 50, 'first');
      await loadProject(context, projectId);
      // Byte order ("C"): every path starting with the prefix lies in [prefix, prefix + U+10FFFF).
      const rows = await context.db.execute<{ path: string; directory: boolean }>(sql`
        select path, directory from staging_paths
        where project_id = ${projectId} and path >= ${prefix} and path < ${`${prefix}\u{10FFFF}`}
        order by (path = ${prefix.replace(/\/$/, '')}) desc,
                 strpos(substr(path, ${prefix.length + 1}), '/') > 0,
                 directory desc,
                 path
        limit ${first}`);
      return rows.map((row) => (row.directory ? `${row.path}/` : row.path));
    },
  }),
}));

interface SourceCredentialsView {
  username: string;
  set: boolean;
}

const SourceCredentialsRef = builder.objectRef<SourceCredentialsView>('SourceCredentials').implement({
  description: 'What staging signs in to the source with; the secret itself is never answered',
  fields: (t) => ({
    username: t.exposeString('username'),
    set: t.exposeBoolean('set', { description: 'Whether a password or token is stored (sealed)' }),
  }),
});

builder.objectField(ProjectRef, 'sourceCredentials', (t) =>
  t.field({
    type: SourceCredentialsRef,
    nullable: true,
    description: 'Admins only (null for others, and when none are set)',
    resolve: async (project, _args, { db, viewer }) => {
      if (!viewer?.isAdmin) return null;
      const [row] = await db
        .select({ username: sourceCredentials.username })
        .from(sourceCredentials)
        .where(eq(sourceCredentials.projectId, project.id));
      return row ? { username: row.username, set: true } : null;
    },
  }),
);

builder.mutationFields((t) => ({
  setSourceCredentials: t.field({
    type: ProjectRef,
    description:
      'Stores the username and password (svn) or token (git over https) staging signs in with, sealed; a project ' +
      'whose first checkout failed is checked out again',
    authScopes: { admin: true },
    args: {
      projectId: t.arg.id({ required: true }),
      username: t.arg.string({ required: true }),
      secret: t.arg.string({ required: true }),
    },
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const username = parseInput(credentialUser, args.username, 'username');
      const secret = parseInput(credentialSecret, args.secret, 'secret');
      const stored = sealed(context, secret);
      const project = await loadProject(context, projectId);
      return context.db.transaction(async (tx) => {
        await tx
          .insert(sourceCredentials)
          .values({ projectId, username, secret: stored })
          .onConflictDoUpdate({
            target: sourceCredentials.projectId,
            set: { username, secret: stored, updatedAt: sql`now()` },
          });
        return remember(context, await initAgainIfFailed(tx, project));
      });
    },
  }),
  clearSourceCredentials: t.field({
    type: ProjectRef,
    authScopes: { admin: true },
    args: { projectId: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const project = await loadProject(context, projectId);
      await context.db.delete(sourceCredentials).where(eq(sourceCredentials.projectId, projectId));
      return project;
    },
  }),
  freezeProject: t.field({
    type: ProjectRef,
    description: 'Stops deploys and rollbacks (FROZEN) until `until`, or until unfreezeProject',
    args: {
      projectId: t.arg.id({ required: true }),
      reason: t.arg.string({ required: true }),
      until: t.arg({ type: 'DateTime' }),
    },
    authScopes: (_root, args) => ({
      $any: { admin: true, member: { projectId: parseId(args.projectId, 'projectId'), role: 'LEAD' } },
    }),
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const reason = parseInput(textLine(500), args.reason, 'reason');
      if (args.until && args.until <= new Date()) throw new BadUserInput('until', 'must be in the future');
      const row = await context.db.transaction(async (tx) => {
        const [updated] = await tx
          .update(projects)
          .set({
            frozenReason: reason,
            frozenUntil: args.until ?? null,
            frozenById: context.viewer?.id,
            updatedAt: sql`now()`,
          })
          .where(eq(projects.id, projectId))
          .returning();
        if (!updated) throw new NotFound('project', projectId);
        await notifyChannels(tx, projectId, 'FREEZE_STARTED', {
          freeze: { reason, until: args.until?.toISOString() ?? null, byId: context.viewer?.id ?? null },
        });
        return updated;
      });
      return remember(context, row);
    },
  }),
  unfreezeProject: t.field({
    type: ProjectRef,
    args: { projectId: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({
      $any: { admin: true, member: { projectId: parseId(args.projectId, 'projectId'), role: 'LEAD' } },
    }),
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const row = await context.db.transaction(async (tx) => {
        const [updated] = await tx
          .update(projects)
          .set({ frozenReason: null, frozenUntil: null, frozenById: null, updatedAt: sql`now()` })
          .where(eq(projects.id, projectId))
          .returning();
        if (!updated) throw new NotFound('project', projectId);
        await notifyChannels(tx, projectId, 'FREEZE_ENDED', { freeze: { byId: context.viewer?.id ?? null } });
        return updated;
      });
      return remember(context, row);
    },
  }),
  createProject: t.field({
    type: ProjectRef,
    description: 'Stores the project; the executor then checks out the staging copy and sets `ready`',
    authScopes: { admin: true },
    args: { input: t.arg({ type: CreateProjectInput, required: true }) },
    resolve: async (_root, args, context) => {
      const { sourceUsername, sourceSecret, ...input } = parseInput(createProjectInput, args.input, 'input');
      await assertNameFree(context, input.name);
      const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v != null)) as typeof input;
      const credentials =
        sourceUsername && sourceSecret ? { username: sourceUsername, secret: sealed(context, sourceSecret) } : null;
      return context.db.transaction(async (tx) => {
        // One staging copy per project: two projects on one path (or one inside the other) would share files and
        // break the one-ticket-per-path rule. Creations take turns for this check.
        await assertStagingFree(tx, input.stagingPath);
        const [row] = await tx
          .insert(projects)
          .values({ ...given, branch: input.sourceType === 'GIT' ? (input.branch ?? 'main') : null })
          .onConflictDoNothing()
          .returning();
        if (!row) throw new BadUserInput('input.name', `a project named "${input.name}" already exists`);
        // Its first environment, "production", comes with it (a trigger: a project always has one).
        // With its credentials from the start, the first checkout signs in.
        if (credentials) await tx.insert(sourceCredentials).values({ projectId: row.id, ...credentials });
        await enqueueJob(tx, { projectId: row.id, kind: 'INIT_PROJECT', pool: row.pool });
        return row;
      });
    },
  }),
  archiveProject: t.field({
    type: ProjectRef,
    description:
      'Takes a project out of the lists and stops new tickets (admins; only when it has no open ticket); its history, releases and staging copy stay',
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = parseId(args.id, 'id');
      return context.db.transaction(async (tx) => {
        const [project] = await tx.select().from(projects).where(eq(projects.id, id)).for('update');
        if (!project) throw new NotFound('project', id);
        if (project.archivedAt) return remember(context, project);
        const [open] = await tx
          .select({ count: count() })
          .from(tickets)
          .where(and(eq(tickets.projectId, id), inArray(tickets.state, [...OPEN_STATES])));
        if (open?.count)
          throw new BadUserInput('id', `the project has ${open.count} open ticket(s): finish or cancel them first`);
        const [row] = await tx
          .update(projects)
          .set({ archivedAt: sql`now()`, updatedAt: sql`now()` })
          .where(eq(projects.id, id))
          .returning();
        return remember(context, row as ProjectRow);
      });
    },
  }),
  unarchiveProject: t.field({
    type: ProjectRef,
    description: 'Brings an archived project back (admins)',
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = parseId(args.id, 'id');
      const [row] = await context.db
        .update(projects)
        .set({ archivedAt: null, updatedAt: sql`now()` })
        .where(eq(projects.id, id))
        .returning();
      if (!row) throw new NotFound('project', id);
      return remember(context, row);
    },
  }),
  updateProject: t.field({
    type: ProjectRef,
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateProjectInput, required: true }) },
    resolve: async (_root, args, context) => {
      const id = parseId(args.id, 'id');
      const input = parseInput(updateProjectInput, args.input, 'input');
      const current = await loadProject(context, id);
      if (input.name) await assertNameFree(context, input.name, id);
      if (input.sourceUrl !== undefined) {
        const url = (current.sourceType === 'SVN' ? svnUrl : gitUrl).safeParse(input.sourceUrl);
        if (!url.success) throw new BadUserInput('input.sourceUrl', url.error.issues[0]?.message ?? 'is not valid');
      }
      if (input.branch !== undefined && current.sourceType === 'SVN')
        throw new BadUserInput('input.branch', 'applies to git sources only');
      // A new source or staging path: the staging copy is checked out (or pointed) anew, as at the project's creation.
      const moved = (['sourceUrl', 'branch', 'stagingPath'] as const).find(
        (field) => input[field] !== undefined && input[field] !== current[field],
      );
      const changes = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
      return context.db.transaction(async (tx) => {
        if (moved) {
          await tx.select({ id: projects.id }).from(projects).where(eq(projects.id, id)).for('update');
          const [open] = await tx
            .select({ count: count() })
            .from(tickets)
            .where(and(eq(tickets.projectId, id), inArray(tickets.state, [...OPEN_STATES])));
          if (open?.count)
            throw new BadUserInput(
              `input.${moved}`,
              `the project has ${open.count} open ticket(s): finish or cancel them first`,
            );
          if (input.stagingPath !== undefined) await assertStagingFree(tx, input.stagingPath, id);
        }
        const [row] = await tx
          .update(projects)
          .set({
            ...changes,
            ...(moved ? { ready: false, initError: null, initFailure: null } : {}),
            updatedAt: sql`now()`,
          })
          .where(eq(projects.id, id))
          .returning();
        if (!row) throw new NotFound('project', id);
        if (moved) {
          await enqueueJob(tx, { projectId: id, kind: 'INIT_PROJECT', pool: row.pool });
          return remember(context, row);
        }
        // A new way of signing in to the source (or of trusting it) is worth another try at a project that could not start.
        const signIn =
          input.sourceSshKeyPath !== undefined ||
          input.knownHostsPath !== undefined ||
          input.sourceCaFile !== undefined;
        return remember(context, signIn ? await initAgainIfFailed(tx, row) : row);
      });
    },
  }),
  addTarget: t.field({
    type: TargetRef,
    authScopes: { admin: true },
    args: { projectId: t.arg.id({ required: true }), input: t.arg({ type: TargetInput, required: true }) },
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const input = parseInput(targetInput, args.input, 'input');
      await loadProject(context, projectId);
      const environment = await environmentForTarget(context.db, projectId, input.environmentId);
      const [row] = await context.db
        .insert(targets)
        .values({
          projectId,
          environmentId: environment.id,
          name: input.name,
          host: input.host ?? null,
          port: input.port ?? null,
          user: input.user ?? null,
          path: input.path,
          // New targets come last.
          position: sql`(select coalesce(max(position) + 1, 0) from targets where project_id = ${projectId})`,
        })
        .onConflictDoNothing()
        .returning();
      if (!row) throw new BadUserInput('input.name', `the project already has a target named "${input.name}"`);
      return row;
    },
  }),
  updateTarget: t.field({
    type: TargetRef,
    description:
      'Changes a target (admins). When its host, port, user or path changes, what it holds is unknown until the next deploy sends it everything',
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: TargetInput, required: true }) },
    resolve: async (_root, args, context) => {
      const id = parseId(args.id, 'id');
      const input = parseInput(targetInput, args.input, 'input');
      const [current] = await context.db.select().from(targets).where(eq(targets.id, id));
      if (!current) throw new NotFound('target', id);
      // Moving a target to another environment keeps what it holds (its recorded version): that environment's next
      // deploy sends it what changed since.
      const environment =
        input.environmentId == null
          ? { id: current.environmentId }
          : await environmentForTarget(context.db, current.projectId, input.environmentId);
      const place = { host: input.host ?? null, port: input.port ?? null, user: input.user ?? null, path: input.path };
      const moved = (Object.keys(place) as (keyof typeof place)[]).some((k) => place[k] !== current[k]);
      const [taken] = await context.db
        .select({ id: targets.id })
        .from(targets)
        .where(and(eq(targets.projectId, current.projectId), eq(targets.name, input.name)));
      if (taken && taken.id !== id)
        throw new BadUserInput('input.name', `the project already has a target named "${input.name}"`);
      const [row] = await context.db
        .update(targets)
        .set({ name: input.name, environmentId: environment.id, ...place, ...(moved ? { releaseId: null } : {}) })
        .where(eq(targets.id, id))
        .returning();
      if (!row) throw new NotFound('target', id);
      if (moved) await context.db.delete(targetVerifications).where(eq(targetVerifications.targetId, id));
      return row;
    },
  }),
  setTargetOrder: t.field({
    type: ProjectRef,
    description:
      'Sets the order deploys go through the targets in (admins): every target of the project, once; the first batchSize are the canary',
    authScopes: { admin: true },
    args: {
      projectId: t.arg.id({ required: true }),
      targetIds: t.arg.idList({ required: true }),
    },
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const project = await loadProject(context, projectId);
      const ids = args.targetIds.map((id, i) => parseId(id, `targetIds.${i}`));
      return context.db.transaction(async (tx) => {
        const all = await tx
          .select({ id: targets.id })
          .from(targets)
          .where(eq(targets.projectId, projectId))
          .for('update');
        const known = new Set(all.map((t) => t.id));
        if (new Set(ids).size !== ids.length) throw new BadUserInput('targetIds', 'names a target twice');
        const stranger = ids.find((id) => !known.has(id));
        if (stranger !== undefined)
          throw new BadUserInput('targetIds', `target ${stranger} is not one of the project's targets`);
        if (ids.length !== all.length)
          throw new BadUserInput('targetIds', `must name every target of the project (${all.length}), in order`);
        for (const [position, id] of ids.entries())
          await tx.update(targets).set({ position }).where(eq(targets.id, id));
        return project;
      });
    },
  }),
  removeTarget: t.boolean({
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, { db }) => {
      const id = parseId(args.id, 'id');
      const removed = await db.delete(targets).where(eq(targets.id, id)).returning({ id: targets.id });
      if (removed.length === 0) throw new NotFound('target', id);
      return true;
    },
  }),
  setMember: t.field({
    type: ProjectRef,
    description: "Gives a user a role in a project; a null role removes the user's membership",
    authScopes: { admin: true },
    args: {
      projectId: t.arg.id({ required: true }),
      userId: t.arg.id({ required: true }),
      role: t.arg({ type: RoleEnum, required: false }),
    },
    resolve: async (_root, args, context) => {
      const projectId = parseId(args.projectId, 'projectId');
      const userId = parseId(args.userId, 'userId');
      const project = await loadProject(context, projectId);
      await loadUser(context, userId);
      if (args.role) {
        await context.db
          .insert(memberships)
          .values({ projectId, userId, role: args.role })
          .onConflictDoUpdate({ target: [memberships.projectId, memberships.userId], set: { role: args.role } });
      } else {
        await context.db
          .delete(memberships)
          .where(and(eq(memberships.projectId, projectId), eq(memberships.userId, userId)));
      }
      return project;
    },
  }),
}));

import { apiTokens, firstEnvironment, memberships, projects, targets } from '@slipway/schema';
import { createSession } from '@slipway/server/auth/tokens';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestUser, startTestApi, type TestApi, type TestUser } from '../../../test/support/api.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.ts';

type Actor = 'anonymous' | 'outsider' | 'viewer' | 'developer' | 'tester' | 'lead' | 'admin';
const actors: Actor[] = ['anonymous', 'outsider', 'viewer', 'developer', 'tester', 'lead', 'admin'];

interface Fixture {
  projectId: number;
  spareUserId: number;
  users: Record<Exclude<Actor, 'anonymous'>, TestUser>;
}

interface Operation {
  name: string;
  allowed: Actor[];
  /** Builds a fresh request for one cell (so every cell acts on its own rows). */
  request(f: Fixture, actor: Actor, cell: string): Promise<{ query: string; variables?: Record<string, unknown> }>;
}

const everyone: Actor[] = actors;
const signedIn: Actor[] = ['outsider', 'viewer', 'developer', 'tester', 'lead', 'admin'];
const members: Actor[] = ['viewer', 'developer', 'tester', 'lead', 'admin'];
const adminOnly: Actor[] = ['admin'];

let database: TestDatabase;
let api: TestApi;
let fixture: Fixture;

const operations: Operation[] = [
  { name: 'me', allowed: everyone, request: async () => ({ query: '{ me { id } }' }) },
  { name: 'users', allowed: adminOnly, request: async () => ({ query: '{ users { id login } }' }) },
  { name: 'projects', allowed: signedIn, request: async () => ({ query: '{ projects { id } }' }) },
  {
    name: 'project',
    allowed: members,
    request: async (f) => ({
      query: 'query($id: ID!) { project(id: $id) { id name targets { id } members { role user { login } } } }',
      variables: { id: f.projectId },
    }),
  },
  {
    name: 'createUser',
    allowed: adminOnly,
    request: async (_f, _a, cell) => ({
      query: 'mutation($input: CreateUserInput!) { createUser(input: $input) { id } }',
      variables: { input: { login: `u-${cell}`, name: 'New User', password: 'long enough password' } },
    }),
  },
  {
    name: 'createProject',
    allowed: adminOnly,
    request: async (_f, _a, cell) => ({
      query: 'mutation($input: CreateProjectInput!) { createProject(input: $input) { id } }',
      variables: {
        input: { name: `p-${cell}`, sourceType: 'SVN', sourceUrl: 'file:///srv/svn/site', stagingPath: `/srv/${cell}` },
      },
    }),
  },
  {
    name: 'updateProject',
    allowed: adminOnly,
    request: async (f) => ({
      query: 'mutation($id: ID!) { updateProject(id: $id, input: { parallelism: 4 }) { id } }',
      variables: { id: f.projectId },
    }),
  },
  {
    name: 'addTarget',
    allowed: adminOnly,
    request: async (f, _a, cell) => ({
      query: 'mutation($p: ID!, $input: TargetInput!) { addTarget(projectId: $p, input: $input) { id } }',
      variables: { p: f.projectId, input: { name: `t-${cell}`, path: `/var/www/${cell}` } },
    }),
  },
  {
    name: 'removeTarget',
    allowed: adminOnly,
    request: async (f, _a, cell) => {
      const [target] = await database.db
        .insert(targets)
        .values({
          projectId: f.projectId,
          environmentId: (await firstEnvironment(database.db, f.projectId)).id,
          name: `rm-${cell}`,
          path: '/var/www/rm',
        })
        .returning();
      return { query: 'mutation($id: ID!) { removeTarget(id: $id) }', variables: { id: target?.id } };
    },
  },
  {
    name: 'setMember',
    allowed: adminOnly,
    request: async (f) => ({
      query: 'mutation($p: ID!, $u: ID!) { setMember(projectId: $p, userId: $u, role: TESTER) { id } }',
      variables: { p: f.projectId, u: f.spareUserId },
    }),
  },
  {
    name: 'createApiToken',
    allowed: signedIn,
    request: async (_f, _a, cell) => ({
      query: 'mutation($n: String!) { createApiToken(name: $n) { token apiToken { id } } }',
      variables: { n: `tok-${cell}` },
    }),
  },
  {
    name: 'revokeApiToken',
    allowed: signedIn,
    request: async (f, actor, cell) => {
      const owner = actor === 'anonymous' ? f.users.viewer : f.users[actor];
      const [token] = await database.db
        .insert(apiTokens)
        .values({ userId: owner.id, name: `revoke-${cell}`, tokenHash: `hash-${cell}` })
        .returning();
      return { query: 'mutation($id: ID!) { revokeApiToken(id: $id) }', variables: { id: token?.id } };
    },
  },
  { name: 'logout', allowed: everyone, request: async () => ({ query: 'mutation { logout }' }) },
  {
    name: 'setUserDisabled',
    allowed: adminOnly,
    request: async (_f, _a, cell) => {
      const user = await createTestUser(database, `off-${cell}`);
      return {
        query: 'mutation($u: ID!) { setUserDisabled(userId: $u, disabled: true) { disabled } }',
        variables: { u: user.id },
      };
    },
  },
  {
    name: 'project webhooks',
    allowed: ['lead', 'admin'],
    request: async (f) => ({
      query: 'query($id: ID!) { project(id: $id) { webhooks { url } } }',
      variables: { id: f.projectId },
    }),
  },
];

async function counts() {
  const [row] = await database.db.execute<Record<string, number>>(
    sql`select (select count(*) from users)::int as users, (select count(*) from projects)::int as projects,
               (select count(*) from targets)::int as targets, (select count(*) from memberships)::int as memberships,
               (select count(*) from api_tokens where revoked_at is null)::int as tokens,
               (select count(*) from users where disabled)::int as disabled,
               (select parallelism from projects order by id limit 1) as parallelism`,
  );
  return row;
}

beforeAll(async () => {
  database = await createTestDatabase();
  api = await startTestApi(database);
  const users = {
    outsider: await createTestUser(database, 'outsider'),
    viewer: await createTestUser(database, 'viewer'),
    developer: await createTestUser(database, 'developer'),
    tester: await createTestUser(database, 'tester'),
    lead: await createTestUser(database, 'lead'),
    admin: await createTestUser(database, 'root', { isAdmin: true }),
  };
  const spare = await createTestUser(database, 'spare');
  const [project] = await database.db
    .insert(projects)
    .values({ name: 'site', sourceType: 'SVN', sourceUrl: 'file:///srv/svn/site', stagingPath: '/srv/site' })
    .returning();
  if (!project) throw new Error('no project');
  for (const role of ['VIEWER', 'DEVELOPER', 'TESTER', 'LEAD'] as const) {
    const user = users[role.toLowerCase() as 'viewer'];
    await database.db.insert(memberships).values({ projectId: project.id, userId: user.id, role });
  }
  fixture = { projectId: project.id, spareUserId: spare.id, users };
});

afterAll(async () => {
  await api?.close();
  await database?.drop();
});

describe('every operation as every actor', () => {
  const cells = operations.flatMap((operation) => actors.map((actor) => [operation.name, actor, operation] as const));
  it.each(cells)('%s as %s', async (_name, actor, operation) => {
    const cell = `${operation.name}-${actor}`.toLowerCase();
    // A fresh session per cell, so `logout` in one cell cannot affect another.
    const token = actor === 'anonymous' ? null : (await createSession(database.db, fixture.users[actor].id)).token;
    const request = await operation.request(fixture, actor, cell);
    const before = await counts();
    const response = await api.gql(request.query, request.variables, { token });
    if (operation.allowed.includes(actor)) {
      expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
      expect(response.data).toBeTruthy();
    } else {
      expect(response.errors?.[0]?.extensions?.code).toBe(actor === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN');
      expect(await counts()).toEqual(before);
    }
  });
});

describe('what each actor sees', () => {
  it('lists only the projects a user is a member of, and all of them for admins', async () => {
    const asOutsider = await api.gql<{ projects: unknown[] }>(
      '{ projects { id } }',
      {},
      {
        token: fixture.users.outsider.token,
      },
    );
    expect(asOutsider.data?.projects).toEqual([]);
    const asViewer = await api.gql<{ projects: { id: string }[] }>(
      '{ projects { id viewerRole } }',
      {},
      {
        token: fixture.users.viewer.token,
      },
    );
    expect(asViewer.data?.projects).toEqual([{ id: String(fixture.projectId), viewerRole: 'VIEWER' }]);
  });

  it("hides other users' memberships and tokens", async () => {
    const response = await api.gql(
      '{ users { login memberships { role } } }',
      {},
      { token: fixture.users.admin.token },
    );
    expect(response.errors).toBeUndefined();
    const asLead = await api.gql(
      'query($id: ID!) { project(id: $id) { members { user { login memberships { role } } } } }',
      { id: fixture.projectId },
      { token: fixture.users.lead.token },
    );
    expect(asLead.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const tokens = await api.gql(
      'query($id: ID!) { project(id: $id) { members { user { apiTokens { id } } } } }',
      { id: fixture.projectId },
      { token: fixture.users.admin.token },
    );
    expect(tokens.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

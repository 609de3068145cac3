import { sql } from 'drizzle-orm';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestUser, startTestApi, type TestApi, type TestUser } from '../../../test/support/api.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.ts';

let database: TestDatabase;
let api: TestApi;
let admin: TestUser;

beforeAll(async () => {
  database = await createTestDatabase();
  api = await startTestApi(database);
  admin = await createTestUser(database, 'admin', { isAdmin: true, password: 'correct horse battery' });
});

afterAll(async () => {
  await api?.close();
  await database?.drop();
});

async function rowCounts() {
  const [row] = await database.db.execute(
    sql`select (select count(*) from users)::int as users, (select count(*) from projects)::int as projects,
               (select count(*) from targets)::int as targets, (select count(*) from memberships)::int as memberships,
               (select count(*) from sessions)::int as sessions, (select count(*) from api_tokens)::int as tokens,
               (select string_agg(updated_at::text || parallelism, ',') from projects) as project_versions`,
  );
  return row;
}

const asAdmin = (query: string, variables?: Record<string, unknown>) =>
  api.gql(query, variables, { token: admin.token });

const CREATE_PROJECT =
  'mutation($input: CreateProjectInput!) { createProject(input: $input) { id name branch parallelism } }';
const validProject = {
  name: 'site',
  sourceType: 'SVN',
  sourceUrl: 'svn://127.0.0.1/site/trunk',
  stagingPath: '/srv/site',
};

describe('the administration flow', () => {
  it('creates users, a project, targets and memberships', async () => {
    const user = await asAdmin('mutation($i: CreateUserInput!) { createUser(input: $i) { id login isAdmin } }', {
      i: { login: 'alice', name: 'Alice Liddell', password: 'alice password' },
    });
    expect(user.errors).toBeUndefined();
    const aliceId = (user.data as { createUser: { id: string } }).createUser.id;

    const project = await asAdmin(CREATE_PROJECT, {
      input: {
        ...validProject,
        name: 'shop',
        sourceType: 'GIT',
        sourceUrl: 'https://git.example.com/shop.git',
        stagingPath: '/srv/shop/',
      },
    });
    expect(project.errors).toBeUndefined();
    const created = (project.data as { createProject: { id: string; branch: string; parallelism: number } })
      .createProject;
    expect(created).toMatchObject({ branch: 'main', parallelism: 10 });

    const target = await asAdmin(
      'mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { name host port user path } }',
      {
        p: created.id,
        t: { name: 'web-1', host: 'web1.example.com', port: 2222, user: 'deploy', path: '/var/www/shop/' },
      },
    );
    expect(target.data).toEqual({
      addTarget: { name: 'web-1', host: 'web1.example.com', port: 2222, user: 'deploy', path: '/var/www/shop' },
    });

    const member = await asAdmin(
      'mutation($p: ID!, $u: ID!) { setMember(projectId: $p, userId: $u, role: DEVELOPER) { members { role user { login } } } }',
      { p: created.id, u: aliceId },
    );
    expect(member.data).toEqual({ setMember: { members: [{ role: 'DEVELOPER', user: { login: 'alice' } }] } });

    const updated = await asAdmin(
      'mutation($id: ID!) { updateProject(id: $id, input: { parallelism: 3, stagingUrl: "https://staging.example.com" }) { parallelism stagingUrl } }',
      { id: created.id },
    );
    expect(updated.data).toEqual({ updateProject: { parallelism: 3, stagingUrl: 'https://staging.example.com' } });
    const cleared = await asAdmin(
      'mutation($id: ID!) { updateProject(id: $id, input: { stagingUrl: null }) { parallelism stagingUrl } }',
      {
        id: created.id,
      },
    );
    expect(cleared.data).toEqual({ updateProject: { parallelism: 3, stagingUrl: null } });

    const removed = await asAdmin(
      'mutation($p: ID!, $u: ID!) { setMember(projectId: $p, userId: $u, role: null) { members { role } } }',
      {
        p: created.id,
        u: aliceId,
      },
    );
    expect(removed.data).toEqual({ setMember: { members: [] } });
  });
});

describe('bad input is refused with BAD_USER_INPUT naming the field, and nothing is written', () => {
  const huge = 'x'.repeat(1024 * 1024);
  const cases: [string, string, Record<string, unknown>, string | undefined][] = [
    [
      'a relative staging path',
      CREATE_PROJECT,
      { input: { ...validProject, stagingPath: 'srv/site' } },
      'input.stagingPath',
    ],
    [
      '".." in the staging path',
      CREATE_PROJECT,
      { input: { ...validProject, stagingPath: '/srv/../etc' } },
      'input.stagingPath',
    ],
    ['a relative key path', CREATE_PROJECT, { input: { ...validProject, sshKeyPath: 'id_rsa' } }, 'input.sshKeyPath'],
    ['a 1 MB name', CREATE_PROJECT, { input: { ...validProject, name: huge } }, 'input.name'],
    [
      'a control character in the name',
      CREATE_PROJECT,
      { input: { ...validProject, name: 'site\u0007' } },
      'input.name',
    ],
    ['a wrong type', CREATE_PROJECT, { input: { ...validProject, parallelism: 'ten' } }, undefined],
    ['a fraction', CREATE_PROJECT, { input: { ...validProject, keepReleases: 1.5 } }, undefined],
    ['a missing field', CREATE_PROJECT, { input: { name: 'x', sourceType: 'SVN', sourceUrl: 'svn://h/r' } }, undefined],
    ['an unknown enum value', CREATE_PROJECT, { input: { ...validProject, sourceType: 'CVS' } }, undefined],
    ['parallelism 0', CREATE_PROJECT, { input: { ...validProject, parallelism: 0 } }, 'input.parallelism'],
    ['batch size 101', CREATE_PROJECT, { input: { ...validProject, batchSize: 101 } }, 'input.batchSize'],
    ['11 approvals', CREATE_PROJECT, { input: { ...validProject, requiredApprovals: 11 } }, 'input.requiredApprovals'],
    [
      'an option as source URL',
      CREATE_PROJECT,
      { input: { ...validProject, sourceUrl: '--config-dir=/tmp' } },
      'input.sourceUrl',
    ],
    [
      'an option as git URL',
      CREATE_PROJECT,
      { input: { ...validProject, sourceType: 'GIT', sourceUrl: '--upload-pack=touch /tmp/x' } },
      'input.sourceUrl',
    ],
    [
      'a javascript: staging URL',
      CREATE_PROJECT,
      { input: { ...validProject, stagingUrl: 'javascript:alert(1)' } },
      'input.stagingUrl',
    ],
    [
      'an option-like branch',
      CREATE_PROJECT,
      { input: { ...validProject, sourceType: 'GIT', sourceUrl: 'https://h/r.git', branch: '-f' } },
      'input.branch',
    ],
    [
      'an option as exclude',
      CREATE_PROJECT,
      { input: { ...validProject, excludes: ['--delete'] } },
      'input.excludes.0',
    ],
    [
      'a shell metacharacter in a target host',
      'mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }',
      { p: '1', t: { name: 'web', host: 'web1;rm -rf /', path: '/var/www' } },
      'input.host',
    ],
    [
      'a relative target path',
      'mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }',
      { p: '1', t: { name: 'web', path: 'var/www' } },
      'input.path',
    ],
    [
      'a port out of range',
      'mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }',
      { p: '1', t: { name: 'web', host: 'web1', port: 70000, path: '/var/www' } },
      'input.port',
    ],
    [
      'an option as target user',
      'mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }',
      { p: '1', t: { name: 'web', host: 'web1', user: '-oProxyCommand=x', path: '/var/www' } },
      'input.user',
    ],
    ['a malformed id', 'mutation { updateProject(id: "1 or 1=1", input: { parallelism: 2 }) { id } }', {}, 'id'],
    [
      'a short password',
      'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }',
      { i: { login: 'bob', name: 'Bob', password: 'short' } },
      'input.password',
    ],
    [
      'a 1 MB password',
      'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }',
      { i: { login: 'bob', name: 'Bob', password: huge } },
      'input.password',
    ],
    [
      'a taken login, in other case',
      'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }',
      { i: { login: 'ADMIN', name: 'Another admin', password: 'long enough' } },
      'input.login',
    ],
    [
      'a 1 MB login at sign-in',
      'mutation($l: String!) { login(login: $l, password: "x") { token } }',
      { l: huge },
      'login',
    ],
  ];

  beforeAll(async () => {
    const created = await asAdmin(CREATE_PROJECT, { input: { ...validProject, name: 'existing' } });
    expect(created.errors).toBeUndefined();
  });

  it.each(cases)('%s', async (_name, query, variables, field) => {
    const before = await rowCounts();
    const response = await asAdmin(query, variables);
    expect(response.data ?? null).toBeNull();
    const error = response.errors?.[0];
    expect(error?.extensions?.code, JSON.stringify(response.errors)).toBe('BAD_USER_INPUT');
    if (field) {
      expect(error?.extensions?.field).toBe(field);
      expect(error?.message.startsWith(`${field}: `)).toBe(true);
    }
    expect(JSON.stringify(response.errors)).not.toMatch(/\n\s+at |stacktrace/);
    expect(await rowCounts()).toEqual(before);
  });

  it('names every problem of an input at once, each at its field with its rule', async () => {
    const response = await asAdmin('mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', {
      i: { login: 'bad login', name: 'Bob', password: 'short' },
    });
    const extensions = response.errors?.[0]?.extensions;
    expect(extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.login', problem: 'identifier' });
    expect(extensions?.problems).toEqual([
      expect.objectContaining({ field: 'input.login', problem: 'identifier' }),
      expect.objectContaining({ field: 'input.password', problem: 'tooShort', params: { n: '8' } }),
    ]);
  });

  it('answers a syntax error with GRAPHQL_PARSE_FAILED', async () => {
    const before = await rowCounts();
    const response = await asAdmin('mutation { createProject(input: { name: }) { id } }');
    expect(response.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses a duplicate project name and an unknown project', async () => {
    const before = await rowCounts();
    const duplicate = await asAdmin(CREATE_PROJECT, { input: { ...validProject, name: 'EXISTING' } });
    expect(duplicate.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.name' });
    const missing = await asAdmin('mutation { updateProject(id: "999999", input: { parallelism: 2 }) { id } }');
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses request bodies over 2 MiB before reading them', async () => {
    const response = await asAdmin(CREATE_PROJECT, { input: { ...validProject, name: 'x'.repeat(3 * 1024 * 1024) } });
    expect(response.status).toBe(413);
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('signing in', () => {
  const LOGIN = 'mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token user { login } } }';

  it('answers a token and sets an HttpOnly SameSite cookie that works with a JSON request', async () => {
    const response = await api.gql(LOGIN, { l: 'admin', p: 'correct horse battery' });
    expect(response.errors).toBeUndefined();
    const cookie = response.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^slipway_session=slws_[\w-]+;/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    const session = cookie.split(';')[0] as string;
    const me = await api.gql('{ me { login } }', {}, { headers: { cookie: session } });
    expect(me.data).toEqual({ me: { login: 'admin' } });
  });

  it('refuses a cookie request that a cross-site form could send (CSRF)', async () => {
    const login = await api.gql(LOGIN, { l: 'admin', p: 'correct horse battery' });
    const session = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const before = await rowCounts();
    const forged = await fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', cookie: session },
      body: JSON.stringify({
        query: 'mutation { createUser(input: {login: "evil", name: "e", password: "12345678"}) { id } }',
      }),
    });
    expect(forged.status).toBe(403);
    expect(await rowCounts()).toEqual(before);
  });

  it('API tokens act as their user until revoked; logout ends the session', async () => {
    const created = await asAdmin('mutation { createApiToken(name: "ci") { token apiToken { id name } } }');
    const { token, apiToken } = (created.data as { createApiToken: { token: string; apiToken: { id: string } } })
      .createApiToken;
    expect(token).toMatch(/^slwt_/);
    expect((await api.gql('{ me { login apiTokens { name } } }', {}, { token })).data).toEqual({
      me: { login: 'admin', apiTokens: [{ name: 'ci' }] },
    });
    const [stored] = await database.db.execute(sql`select token_hash from api_tokens where id = ${apiToken.id}`);
    expect(stored?.token_hash).not.toContain(token);
    // "Last used" is written beside the requests, to the minute: once for a burst of them.
    await Promise.all(Array.from({ length: 20 }, () => api.gql('{ me { login } }', {}, { token })));
    const lastUsed = async () =>
      (await database.db.execute(sql`select last_used_at from api_tokens where id = ${apiToken.id}`))[0]?.last_used_at;
    await expect.poll(lastUsed).not.toBeNull();
    const first = String(await lastUsed());
    await api.gql('{ me { login } }', {}, { token });
    expect(String(await lastUsed())).toBe(first);
    await asAdmin('mutation($id: ID!) { revokeApiToken(id: $id) }', { id: apiToken.id });
    // Revoked: refused at its very next request (every request reads the token's row).
    expect((await api.gql('{ me { login } }', {}, { token })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    const login = await api.gql<{ login: { token: string } }>(LOGIN, { l: 'admin', p: 'correct horse battery' });
    const session = login.data?.login.token as string;
    expect((await api.gql('mutation { logout }', {}, { token: session })).data).toEqual({ logout: true });
    expect((await api.gql('{ me { login } }', {}, { token: session })).errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
  });

  it('a wrong password ten times in a row: UNAUTHENTICATED, then RATE_LIMITED, and no session is made', async () => {
    await createTestUser(database, 'mallory-target', { password: 'the real password' });
    const before = await rowCounts();
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await api.gql(LOGIN, { l: 'mallory-target', p: `guess ${i}` });
      codes.push(response.errors?.[0]?.extensions?.code as string);
    }
    expect(codes).toEqual([...Array(5).fill('UNAUTHENTICATED'), ...Array(5).fill('RATE_LIMITED')]);
    // Even the right password waits out the window: the limit is checked before any password.
    const right = await api.gql(LOGIN, { l: 'mallory-target', p: 'the real password' });
    expect(right.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(right.errors?.[0]?.extensions?.retryAfterSeconds).toBeGreaterThan(0);
    expect(await rowCounts()).toEqual(before);
  });
});

describe('graphql-ws on the same port', () => {
  function client(connectionParams: Record<string, unknown>) {
    return createClient({
      url: `${api.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams,
      retryAttempts: 0,
      lazy: true,
    });
  }

  it('authenticates from connectionParams.authorization and runs operations', async () => {
    const ws = client({ authorization: `Bearer ${admin.token}` });
    try {
      const result = await new Promise((resolve, reject) => {
        ws.subscribe({ query: '{ me { login } }' }, { next: resolve, error: reject, complete: () => {} });
      });
      expect(result).toEqual({ data: { me: { login: 'admin' } } });
    } finally {
      await ws.dispose();
    }
  });

  it('closes a connection without a valid token, telling the client not to retry it (4401)', async () => {
    const ws = client({ authorization: 'Bearer slws_not-a-session' });
    const closed = await new Promise<unknown>((resolve) => {
      ws.on('closed', resolve);
      ws.subscribe({ query: '{ me { login } }' }, { next: () => {}, error: resolve, complete: () => {} });
    });
    expect((closed as { code?: number }).code).toBe(4401);
    await ws.dispose();
  });
});

import { randomBytes } from 'node:crypto';
import { access, chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { sql } from 'drizzle-orm';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestUser, startTestApi, type TestApi, type TestUser } from './support/api.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, waitForState } from './support/flow.ts';
import { createReadyProject } from './support/project.ts';
import { SvnRepo } from './support/svn.ts';

let dir: string;
let database: TestDatabase;
let api: TestApi;
let worker: Worker;
let projectA: string;
let projectB: string;
let ticketB: string;
let jobB: string;
const canary = join(tmpdir(), `slipway-pwned-${randomBytes(4).toString('hex')}`);
const people = {} as Record<'admin' | 'devA' | 'leadA' | 'devB', TestUser>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-abuse-'));
  await chmod(dir, 0o755);
  database = await createTestDatabase();
  api = await startTestApi(database);
  people.admin = await createTestUser(database, 'admin', { isAdmin: true });
  people.devA = await createTestUser(database, 'dev-a');
  people.leadA = await createTestUser(database, 'lead-a');
  people.devB = await createTestUser(database, 'dev-b');
  const svn = await SvnRepo.create(dir, { 'www/index.html': 'index\n' });
  worker = await startTestWorker(database, join(dir, 'data'));
  projectA = await createReadyProject(api, people.admin, {
    name: 'a',
    sourceUrl: svn.url,
    stagingPath: join(dir, 'staging-a'),
    targets: [{ name: 'web', path: join(dir, 'target-a') }],
    members: [
      { user: people.devA, role: 'DEVELOPER' },
      { user: people.leadA, role: 'LEAD' },
    ],
  });
  projectB = await createReadyProject(api, people.admin, {
    name: 'b',
    sourceUrl: svn.url,
    stagingPath: join(dir, 'staging-b'),
    targets: [{ name: 'web', path: join(dir, 'target-b') }],
    members: [{ user: people.devB, role: 'DEVELOPER' }],
  });
  const b = await ok(
    api,
    people.devB.token,
    'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id jobs { id } } }',
    {
      i: { projectId: projectB, reason: 'b', paths: ['www/index.html'] },
    },
  );
  ticketB = b.submitTicket.id;
  jobB = b.submitTicket.jobs[0].id;
  await waitForState(api, people.devB.token, ticketB, 'AWAITING_TEST');
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

async function counts() {
  const [row] = await database.db.execute(sql`select (select count(*) from tickets)::int as tickets,
    (select count(*) from ticket_events)::int as events, (select count(*) from jobs)::int as jobs,
    (select count(*) from projects)::int as projects, (select count(*) from targets)::int as targets`);
  return row;
}

const SUBMIT = 'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id state } }';

describe('hostile input', () => {
  it.each([
    ['an absolute path', ['/etc/passwd']],
    ['a path up and out', ['www/../../etc']],
    ['an option-looking path', ['--config-dir=/tmp']],
    ['a dash path', ['-rf']],
    ['a NUL byte', ['www/\u0000x']],
    ['a newline in a path', ['www/a\nb']],
    ['version-control metadata', ['www/.svn/wc.db']],
    ['no paths', []],
    ['501 paths', Array.from({ length: 501 }, (_, i) => `www/p${i}`)],
  ])('refuses %s before anything runs, and writes nothing', async (_name, paths) => {
    const before = await counts();
    const response = await api.gql(
      SUBMIT,
      { i: { projectId: projectA, reason: 'r', paths } },
      { token: people.devA.token },
    );
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await counts()).toEqual(before);
  });

  it('passes shell metacharacters to svn as plain arguments: nothing runs, staging simply fails', async () => {
    for (const path of [
      `www/$(touch ${canary})`,
      `www/\`touch ${canary}\``,
      `www/a;touch ${canary}`,
      `www/a|touch ${canary}`,
    ]) {
      const submitted = await ok(api, people.devA.token, SUBMIT, {
        i: { projectId: projectA, reason: `touch ${canary}\n$(id)`, paths: [path] },
      });
      const failed = await waitForState(api, people.devA.token, submitted.submitTicket.id, [
        'STAGING_FAILED',
        'AWAITING_TEST',
      ]);
      expect(failed.state).toBe('STAGING_FAILED');
      await ok(api, people.devA.token, 'mutation($id: ID!) { cancelTicket(id: $id) { id } }', {
        id: submitted.submitTicket.id,
      });
    }
    expect(await exists(canary)).toBe(false);
  });

  it('stores a newline-laden reason as text', async () => {
    const reason = 'line one\nline two\n\t$(rm -rf /)\n`id`';
    const submitted = await ok(
      api,
      people.devA.token,
      'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id reason } }',
      {
        i: { projectId: projectA, reason, paths: ['www/index.html'] },
      },
    );
    expect(submitted.submitTicket.reason).toBe(reason);
    await waitForState(api, people.devA.token, submitted.submitTicket.id, ['AWAITING_TEST', 'STAGING_FAILED']);
    await ok(api, people.devA.token, 'mutation($id: ID!) { cancelTicket(id: $id) { id } }', {
      id: submitted.submitTicket.id,
    });
  });

  it('refuses queries that are too deep, too wide, batched, or not UTF-8', async () => {
    const deep = `{ me { ${'memberships { project { members { user { '.repeat(6)}id${' } } } }'.repeat(6)} } }`;
    const aliases = `{ ${Array.from({ length: 50 }, (_, i) => `a${i}: me { id }`).join(' ')} }`;
    const tokens = `{ me { ${'id '.repeat(5000)} } }`;
    for (const query of [deep, aliases, tokens]) {
      const response = await api.gql(query, {}, { token: people.admin.token });
      expect(response.data ?? null).toBeNull();
      expect(['BAD_USER_INPUT', 'GRAPHQL_PARSE_FAILED']).toContain(response.errors?.[0]?.extensions?.code);
    }

    const before = await counts();
    const batched = await fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${people.admin.token}` },
      body: JSON.stringify([
        {
          query:
            'mutation { createProject(input: {name: "x1", sourceType: SVN, sourceUrl: "svn://h/r", stagingPath: "/srv/x1"}) { id } }',
        },
        {
          query:
            'mutation { createProject(input: {name: "x2", sourceType: SVN, sourceUrl: "svn://h/r", stagingPath: "/srv/x2"}) { id } }',
        },
      ]),
    });
    expect(batched.status).toBeGreaterThanOrEqual(400);
    const invalid = await fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${people.admin.token}` },
      body: Buffer.concat([
        Buffer.from('{"query":"mutation { createUser(input: {login: \\"'),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from('\\", name: \\"x\\", password: \\"12345678\\"}) { id } }"}'),
      ]),
    });
    const body = (await invalid.json()) as { errors?: { extensions?: { code?: string } }[] };
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await counts()).toEqual(before);
  });
});

describe('one project’s members and another project', () => {
  it('can read nothing of it and change nothing of it', async () => {
    const asA = (query: string, variables: Record<string, unknown>) =>
      api.gql(query, variables, { token: people.leadA.token });
    const before = await counts();
    const denied = [
      await asA('query($id: ID!) { project(id: $id) { name } }', { id: projectB }),
      await asA('query($id: ID!) { tickets(projectId: $id) { edges { node { id } } } }', { id: projectB }),
      await asA('query($id: ID!) { ticket(id: $id) { reason } }', { id: ticketB }),
      await asA('query($id: ID!) { job(id: $id) { log { text } } }', { id: jobB }),
      await asA('query($id: ID!) { releases(projectId: $id) { tag } }', { id: projectB }),
      await asA(SUBMIT, { i: { projectId: projectB, reason: 'r', paths: ['www/x'] } }),
      await asA('mutation($id: ID!) { approveTicket(id: $id) { id } }', { id: ticketB }),
      await asA('mutation($id: ID!) { cancelTicket(id: $id) { id } }', { id: ticketB }),
      await asA('mutation($id: ID!) { previewDeploy(id: $id) { id } }', { id: ticketB }),
      await asA('mutation($id: ID!) { freezeProject(projectId: $id, reason: "mine now") { id } }', { id: projectB }),
    ];
    for (const response of denied)
      expect(response.errors?.[0]?.extensions?.code, JSON.stringify(response)).toBe('FORBIDDEN');
    expect(await counts()).toEqual(before);
    const projects = await ok(api, people.leadA.token, '{ projects { name } }');
    expect(projects.projects).toEqual([{ name: 'a' }]);

    const client = createClient({
      url: `${api.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${people.leadA.token}` },
      retryAttempts: 0,
    });
    for (const query of [
      `subscription { jobLog(jobId: "${jobB}") { text } }`,
      `subscription { ticketEvents(projectId: "${projectB}", afterEventId: "0") { id } }`,
      `subscription { jobUpdated(jobId: "${jobB}") { state } }`,
    ]) {
      const result = await new Promise<unknown>((resolve) => {
        client.subscribe({ query }, { next: resolve, error: resolve, complete: () => resolve('complete') });
      });
      expect(JSON.stringify(result)).toContain('FORBIDDEN');
    }
    await client.dispose();
  });
});

describe('every other mutation, with hostile input', () => {
  it('answers BAD_USER_INPUT (or FORBIDDEN/INVALID_TRANSITION) and writes nothing', async () => {
    const t = await ok(api, people.devA.token, SUBMIT, {
      i: { projectId: projectA, reason: 'hostile', paths: ['www/hostile.html'] },
    });
    const id = t.submitTicket.id;
    await waitForState(api, people.devA.token, id, ['AWAITING_TEST', 'STAGING_FAILED']);
    const nul = 'a\u0000b';
    const huge = 'x'.repeat(1024 * 1024);
    const cases: [string, Record<string, unknown>, TestUser][] = [
      ['mutation($id: ID!, $c: String) { returnTicket(id: $id, comment: $c) { id } }', { id, c: nul }, people.devA],
      ['mutation($id: ID!, $c: String) { passTest(id: $id, comment: $c) { id } }', { id, c: huge }, people.devA],
      [
        'mutation($id: ID!, $c: String) { cancelTicket(id: $id, comment: $c) { id } }',
        { id, c: '\u0007bell' },
        people.devA,
      ],
      ['mutation($id: ID!) { resubmitTicket(id: $id, paths: ["../../etc"]) { id } }', { id }, people.devA],
      ['mutation($id: ID!) { resubmitTicket(id: $id, reason: "") { id } }', { id }, people.devA],
      ['mutation { requestRollback(releaseId: "1; drop table tickets", reason: "r") { id } }', {}, people.devA],
      ['mutation($n: String!) { createApiToken(name: $n) { token } }', { n: 'ci; rm -rf /' }, people.devA],
      ['mutation { revokeApiToken(id: "-1") }', {}, people.devA],
      [
        'mutation($p: ID!, $u: String!) { addWebhook(projectId: $p, url: $u) { id } }',
        { p: projectA, u: 'file:///etc/passwd' },
        people.admin,
      ],
      [
        'mutation($p: ID!, $u: String!) { addWebhook(projectId: $p, url: $u) { id } }',
        { p: projectA, u: 'javascript:alert(1)' },
        people.admin,
      ],
      [
        'mutation($p: ID!, $r: String!) { freezeProject(projectId: $p, reason: $r) { id } }',
        { p: projectA, r: huge },
        people.leadA,
      ],
      [
        'mutation($p: ID!) { freezeProject(projectId: $p, reason: "past", until: "2001-01-01T00:00:00Z") { id } }',
        { p: projectA },
        people.leadA,
      ],
      ['mutation($id: ID!, $r: String!) { overrideFreeze(id: $id, reason: $r) { id } }', { id, r: nul }, people.admin],
      [
        'mutation($p: ID!) { updateProject(id: $p, input: { excludes: ["--delete-excluded"] }) { id } }',
        { p: projectA },
        people.admin,
      ],
      [
        'mutation($p: ID!) { updateProject(id: $p, input: { preDeploy: "a\\u0000b" }) { id } }',
        { p: projectA },
        people.admin,
      ],
      [
        'mutation($p: ID!) { updateProject(id: $p, input: { sshKeyPath: "/keys/my key" }) { id } }',
        { p: projectA },
        people.admin,
      ],
      [
        'mutation($p: ID!) { updateProject(id: $p, input: { pool: "eu west; id" }) { id } }',
        { p: projectA },
        people.admin,
      ],
      [
        'mutation($p: ID!, $u: ID!) { setMember(projectId: $p, userId: $u, role: LEAD) { id } }',
        { p: projectA, u: '0x10' },
        people.admin,
      ],
      ['mutation { removeTarget(id: "1 OR 1=1") }', {}, people.admin],
      ['mutation { removeWebhook(id: "../1") }', {}, people.admin],
    ];
    const before = await counts();
    const [{ events: eventsBefore } = { events: 0 }] = await database.db.execute<{ events: number }>(
      sql`select count(*)::int as events from ticket_events`,
    );
    for (const [query, variables, user] of cases) {
      const response = await api.gql(query, variables, { token: user.token });
      expect(response.data ?? null, query).toBeNull();
      expect(
        ['BAD_USER_INPUT', 'FORBIDDEN', 'INVALID_TRANSITION', 'NOT_FOUND'],
        `${query} ${JSON.stringify(response.errors)}`,
      ).toContain(response.errors?.[0]?.extensions?.code);
    }
    expect(await counts()).toEqual(before);
    const [{ events: eventsAfter } = { events: 0 }] = await database.db.execute<{ events: number }>(
      sql`select count(*)::int as events from ticket_events`,
    );
    expect(eventsAfter).toBe(eventsBefore);
    const project = await ok(
      api,
      people.admin.token,
      'query($p: ID!) { project(id: $p) { excludes pool freeze { reason } webhooks { id } } }',
      {
        p: projectA,
      },
    );
    expect(project.project).toEqual({ excludes: [], pool: 'default', freeze: null, webhooks: [] });
  });
});

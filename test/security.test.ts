import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from '@slipway/executor';
import { LogSink } from '@slipway/executor/log-sink';
import { apiTokens, jobs, projects } from '@slipway/schema';
import { createSlipwayServer } from '@slipway/server/http';
import { eq } from 'drizzle-orm';
import { execa } from 'execa';
import { pino } from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestUser, startTestApi, type TestApi } from './support/api.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, waitFor, waitForState } from './support/flow.ts';
import { GitRepo } from './support/git.ts';
import { createReadyProject } from './support/project.ts';
import { SvnRepo } from './support/svn.ts';
import { createWorld, type World } from './support/world.ts';
import { RawGraphqlSocket } from './support/ws.ts';

let world: World<'dev' | 'lead' | 'viewer' | 'tester'>;
let replicaB: TestApi;
let worker: Worker;
let projectId: number;
const running: (() => void)[] = [];

const LOG = 'subscription($j: ID!) { jobLog(jobId: $j) { seq text } }';
const EVENTS = 'subscription($p: ID!) { ticketEvents(projectId: $p) { id } }';

beforeAll(async () => {
  world = await createWorld('security', ['dev', 'lead', 'viewer', 'tester']);
  replicaB = await startTestApi(world.database);
  worker = await startTestWorker(world.database, join(world.dir, 'data'));
  const [project] = await world.database.db
    .insert(projects)
    .values({ name: 'watched', sourceType: 'SVN', sourceUrl: 'file:///nowhere', stagingPath: join(world.dir, 'w') })
    .returning();
  projectId = project?.id ?? 0;
  for (const [login, role] of [
    ['dev', 'DEVELOPER'],
    ['lead', 'LEAD'],
    ['viewer', 'VIEWER'],
    ['tester', 'TESTER'],
  ] as const) {
    await setRole(world.people[login].id, role);
  }
});

afterAll(async () => {
  for (const stop of running) stop();
  await worker?.stop();
  await replicaB?.close();
  await world?.close();
});

function setRole(userId: number, role: string | null) {
  return ok(
    world.api,
    world.people.admin.token,
    'mutation($p: ID!, $u: ID!, $r: Role) { setMember(projectId: $p, userId: $u, role: $r) { id } }',
    { p: projectId, u: userId, r: role },
  );
}

/** A running job printing a line every 20 ms through the executor's own log sink (no executor holds it). */
async function printingJob(): Promise<string> {
  const [job] = await world.database.db
    .insert(jobs)
    .values({ projectId, kind: 'DEPLOY', state: 'RUNNING', pool: 'nobody', startedAt: new Date() })
    .returning();
  if (!job) throw new Error('no job');
  const sink = new LogSink(world.database.db, job.id, 0, { maxLines: 100, maxDelayMs: 10 });
  let n = 0;
  const timer = setInterval(() => sink.system(`line ${++n}`), 20);
  running.push(() => clearInterval(timer));
  return String(job.id);
}

/** Subscribes to a job's log and waits until lines flow. */
async function watching(api: TestApi, token: string, jobId: string): Promise<RawGraphqlSocket> {
  const socket = await RawGraphqlSocket.open(api.url, token);
  expect(socket.closed).toBeNull();
  socket.subscribe('log', LOG, { j: jobId });
  await socket.until(() => socket.of('log').filter((m) => m.type === 'next').length >= 3);
  return socket;
}

/** The socket closes with 4401 within a second of `answeredAt`, and no line arrives after that. */
async function expectClosedPromptly(socket: RawGraphqlSocket, answeredAt: number) {
  await socket.until(() => socket.closed !== null, 5000);
  expect(socket.closed?.code).toBe(4401);
  expect(socket.closed?.at ?? 0).toBeLessThan(answeredAt + 1000);
  const lines = socket.of('log').length;
  await sleep(300);
  expect(socket.of('log').length).toBe(lines);
  expect(socket.of('log').every((m) => m.at <= (socket.closed?.at ?? 0))).toBe(true);
}

describe('an open websocket obeys the end of its credentials', () => {
  it('closes within a second when its API token is revoked, on the replica that did not revoke it too', async () => {
    const { dev } = world.people;
    const made = await ok(world.api, dev.token, 'mutation { createApiToken(name: "ci") { token apiToken { id } } }');
    const jobId = await printingJob();
    const onA = await watching(world.api, made.createApiToken.token, jobId);
    const onB = await watching(replicaB, made.createApiToken.token, jobId);
    await ok(world.api, dev.token, 'mutation($id: ID!) { revokeApiToken(id: $id) }', {
      id: made.createApiToken.apiToken.id,
    });
    const answered = Date.now();
    await expectClosedPromptly(onA, answered);
    await expectClosedPromptly(onB, answered);
    // A new socket with the revoked token is refused at once, and is told not to retry.
    const again = await RawGraphqlSocket.open(world.api.url, made.createApiToken.token);
    await again.until(() => again.closed !== null);
    expect(again.closed?.code).toBe(4401);
  });

  it('closes when the session signs out, on every replica', async () => {
    const { dev } = world.people;
    const signedIn = await world.api.gql<{ login: { token: string } }>(
      'mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }',
      { l: dev.login, p: dev.password },
    );
    const token = signedIn.data?.login.token as string;
    const jobId = await printingJob();
    const onB = await watching(replicaB, token, jobId);
    await ok(world.api, token, 'mutation { logout }');
    await expectClosedPromptly(onB, Date.now());
  });

  it('ends the subscriptions of a project whose membership was removed; the socket and other operations live on', async () => {
    const { viewer } = world.people;
    const jobId = await printingJob();
    const socket = await watching(replicaB, viewer.token, jobId);
    socket.subscribe('events', EVENTS, { p: projectId });
    await sleep(200);
    await setRole(viewer.id, null);
    const answered = Date.now();
    await socket.until(() => socket.of('log').some((m) => m.type === 'error'), 5000);
    await socket.until(() => socket.of('events').some((m) => m.type === 'error'), 5000);
    for (const id of ['log', 'events']) {
      const ended = socket.of(id).find((m) => m.type === 'error');
      expect(ended?.payload[0].extensions.code).toBe('FORBIDDEN');
      expect(ended?.at ?? 0).toBeLessThan(answered + 1000);
    }
    const lines = socket.of('log').length;
    await sleep(300);
    expect(socket.of('log').length).toBe(lines);
    expect(socket.closed).toBeNull();
    // The same socket: the user is still signed in, but the project is no longer theirs.
    socket.subscribe('me', '{ me { login } }');
    await socket.until(() => socket.of('me').some((m) => m.type === 'complete'));
    expect(socket.of('me')[0]?.payload.data).toEqual({ me: { login: 'viewer' } });
    socket.subscribe('again', LOG, { j: jobId });
    await socket.until(() => socket.of('again').length > 0);
    expect(socket.of('again')[0]?.payload.errors?.[0]?.extensions.code ?? socket.of('again')[0]?.type).toBe(
      'FORBIDDEN',
    );
    socket.close();
    await setRole(viewer.id, 'VIEWER');
  });

  it('closes every socket of a disabled user; the user can sign in again only once enabled', async () => {
    const { tester, admin } = world.people;
    const jobId = await printingJob();
    const socket = await watching(world.api, tester.token, jobId);
    const disabled = await ok(
      world.api,
      admin.token,
      'mutation($u: ID!) { setUserDisabled(userId: $u, disabled: true) { disabled } }',
      { u: tester.id },
    );
    expect(disabled.setUserDisabled.disabled).toBe(true);
    await expectClosedPromptly(socket, Date.now());
    const refused = await world.api.gql('{ me { id } }', {}, { token: tester.token });
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const signIn = 'mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }';
    const denied = await world.api.gql(signIn, { l: tester.login, p: tester.password });
    expect(denied.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'DISABLED' });
    await ok(world.api, admin.token, 'mutation($u: ID!) { setUserDisabled(userId: $u, disabled: false) { id } }', {
      u: tester.id,
    });
    const back = await ok(world.api, '', signIn, { l: tester.login, p: tester.password });
    world.people.tester.token = back.login.token;
    const self = await world.api.gql(
      'mutation($u: ID!) { setUserDisabled(userId: $u, disabled: true) { id } }',
      { u: admin.id },
      { token: admin.token },
    );
    expect(self.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'userId' });
  });

  it('re-checks the credential on every operation, even when no notification came', async () => {
    const { dev } = world.people;
    const made = await ok(world.api, dev.token, 'mutation { createApiToken(name: "quiet") { token apiToken { id } } }');
    const socket = await RawGraphqlSocket.open(world.api.url, made.createApiToken.token);
    // Revoked behind the server's back: as the owner, with triggers (and so the notification) switched off.
    const owner = postgres(world.database.adminUrl, { max: 1, onnotice: () => {} });
    try {
      await owner.begin(async (tx) => {
        await tx`set local session_replication_role = replica`;
        await tx`update api_tokens set revoked_at = now() where id = ${made.createApiToken.apiToken.id}`;
      });
    } finally {
      await owner.end();
    }
    await sleep(300);
    expect(socket.closed).toBeNull();
    socket.subscribe('mint', 'mutation { createApiToken(name: "fresh") { token } }');
    await socket.until(() => socket.of('mint').length > 0);
    expect(socket.of('mint')[0]?.type).toBe('error');
    expect(socket.of('mint')[0]?.payload[0].extensions.code).toBe('UNAUTHENTICATED');
    await socket.until(() => socket.closed !== null);
    expect(socket.closed?.code).toBe(4401);
    const minted = await world.database.db.select().from(apiTokens).where(eq(apiTokens.name, 'fresh'));
    expect(minted).toEqual([]);
  });

  it('answers a query that does not parse with an error for that operation; the others on the socket go on', async () => {
    const jobId = await printingJob();
    const socket = await watching(world.api, world.people.lead.token, jobId);
    socket.subscribe('bad', '{ me { login ');
    socket.subscribe('worse', 'subscription { jobLog(jobId: "1") { seq } } } }');
    await socket.until(() => socket.of('bad').length > 0 && socket.of('worse').length > 0);
    for (const id of ['bad', 'worse']) {
      expect(socket.of(id)[0]?.type).toBe('error');
      expect(socket.of(id)[0]?.payload[0].extensions.code).toBe('GRAPHQL_PARSE_FAILED');
    }
    const before = socket.of('log').length;
    await socket.until(() => socket.of('log').length > before + 3);
    expect(socket.closed).toBeNull();
    socket.close();
  });
});

describe('sign-in limits under concurrency', () => {
  it('checks at most the limit of passwords when 40 wrong attempts and the right one arrive at once', async () => {
    const racer = await createTestUser(world.database, 'racer', { password: 'the right password' });
    const signIn = 'mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }';
    const attempts = [
      ...Array.from({ length: 40 }, (_, i) => ({ l: racer.login, p: `wrong password ${i}` })),
      { l: racer.login, p: racer.password },
    ];
    const answers = await Promise.all(attempts.map((variables) => world.api.gql(signIn, variables)));
    const checked = answers.filter((a) => a.errors?.[0]?.extensions?.code !== 'RATE_LIMITED');
    expect(checked.length).toBeLessThanOrEqual(5);
    expect(answers.filter((a) => a.errors?.[0]?.extensions?.code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(36);
    // Once limited, the right password is refused too, before it is checked.
    const right = await world.api.gql(signIn, { l: racer.login, p: racer.password });
    expect(right.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(right.errors?.[0]?.extensions?.retryAfterSeconds).toBeGreaterThan(0);
  });
});

describe('no reading other repositories through staging', () => {
  const members = () => [
    { user: world.people.dev, role: 'DEVELOPER' as const },
    { user: world.people.lead, role: 'LEAD' as const },
  ];
  const submit = async (project: string, paths: string[]) => {
    const made = await ok(
      world.api,
      world.people.dev.token,
      'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
      { i: { projectId: project, reason: 'try', paths } },
    );
    return made.submitTicket.id as string;
  };
  const changesOf = async (id: string) =>
    (
      await ok(world.api, world.people.dev.token, 'query($id: ID!) { ticket(id: $id) { changes { path diff } } }', {
        id,
      })
    ).ticket.changes as { path: string; diff: string | null }[];

  async function walk(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
      if (!entry.parentPath.includes('/.svn') && !entry.parentPath.includes('/.git')) out.push(entry.name);
    }
    return out;
  }

  it('ignores svn:externals a developer sets, unless an admin allows them for the project', async () => {
    const dir = join(world.dir, 'externals');
    await mkdir(join(dir, 'other'), { recursive: true });
    const other = await SvnRepo.create(join(dir, 'other'), { 'secret/key.txt': 'OTHER-PROJECT-SECRET\n' });
    const svn = await SvnRepo.create(dir, { 'www/index.html': 'index\n' });
    const strict = await createReadyProject(world.api, world.people.admin, {
      name: 'externals-off',
      sourceUrl: svn.url,
      stagingPath: join(dir, 'staging-off'),
      targets: [{ name: 'web', path: join(dir, 'target-off') }],
      members: members(),
    });
    const allowing = await createReadyProject(world.api, world.people.admin, {
      name: 'externals-on',
      sourceUrl: svn.url,
      stagingPath: join(dir, 'staging-on'),
      targets: [{ name: 'web', path: join(dir, 'target-on') }],
      members: members(),
      settings: { allowSvnExternals: true },
    });
    await execa('svn', ['propset', '-q', 'svn:externals', `${other.url}/secret secret`, 'www'], {
      cwd: svn.workingCopy,
    });
    await svn.commit('externals', { 'www/index.html': 'index 2\n' });

    const ticket = await submit(strict, ['www']);
    await waitForState(world.api, world.people.dev.token, ticket, 'AWAITING_TEST', 60_000);
    expect(await walk(join(dir, 'staging-off'))).not.toContain('key.txt');
    const changes = await changesOf(ticket);
    expect(changes.map((c) => c.path)).toEqual(['www/index.html']);
    expect(JSON.stringify(changes)).not.toContain('OTHER-PROJECT-SECRET');

    const allowed = await submit(allowing, ['www']);
    await waitForState(world.api, world.people.dev.token, allowed, 'AWAITING_TEST', 60_000);
    expect(await readFile(join(dir, 'staging-on', 'www', 'secret', 'key.txt'), 'utf8')).toBe('OTHER-PROJECT-SECRET\n');
    // Only an admin may allow them.
    const byLead = await world.api.gql(
      'mutation($p: ID!) { updateProject(id: $p, input: { allowSvnExternals: true }) { id } }',
      { p: strict },
      { token: world.people.lead.token },
    );
    expect(byLead.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('never fetches a git submodule that a branch points at another repository', async () => {
    const dir = join(world.dir, 'submodule');
    await mkdir(join(dir, 'other'), { recursive: true });
    const other = await GitRepo.create(join(dir, 'other'), 'main', { 'key.txt': 'OTHER-GIT-SECRET\n' });
    const repo = await GitRepo.create(dir, 'main', { 'www/index.html': 'index\n' });
    const project = await createReadyProject(world.api, world.people.admin, {
      name: 'submodules',
      sourceType: 'GIT',
      sourceUrl: repo.url,
      stagingPath: join(dir, 'staging'),
      targets: [{ name: 'web', path: join(dir, 'target') }],
      members: members(),
    });
    await execa('git', ['-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', other.url, 'www/vendor'], {
      cwd: repo.clone,
    });
    await repo.commit('vendor', { 'www/index.html': 'index 2\n' });
    const ticket = await submit(project, ['www']);
    await waitForState(world.api, world.people.dev.token, ticket, ['AWAITING_TEST', 'STAGING_FAILED'], 60_000);
    expect(await walk(join(dir, 'staging'))).not.toContain('key.txt');
    expect(JSON.stringify(await changesOf(ticket))).not.toContain('OTHER-GIT-SECRET');
  });

  it('refuses a ticket path that passes through a symbolic link out of the working copy, touching nothing', async () => {
    const dir = join(world.dir, 'linked');
    const outside = join(dir, 'other-project-staging');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'config.php'), 'OTHER-CONFIG-SECRET\n');
    const svn = await SvnRepo.create(dir, { 'www/index.html': 'index\n' });
    await symlink(outside, join(svn.workingCopy, 'www', 'link'));
    await svn.commit('a link', { 'www/index.html': 'index 2\n' });
    const project = await createReadyProject(world.api, world.people.admin, {
      name: 'linked',
      sourceUrl: svn.url,
      stagingPath: join(dir, 'staging'),
      targets: [{ name: 'web', path: join(dir, 'target') }],
      members: members(),
    });
    const ticket = await submit(project, ['www/link/config.php']);
    const failed = await waitForState(world.api, world.people.dev.token, ticket, ['STAGING_FAILED', 'AWAITING_TEST']);
    expect(failed.state).toBe('STAGING_FAILED');
    expect(failed.events.at(-1)?.comment).toMatch(/passes through the symbolic link www\/link/);
    expect(await readFile(join(outside, 'config.php'), 'utf8')).toBe('OTHER-CONFIG-SECRET\n');
    expect(JSON.stringify(await changesOf(ticket))).not.toContain('OTHER-CONFIG-SECRET');
  });
});

describe('webhook URLs', () => {
  let receiver: Server;
  afterAll(() => receiver?.close());

  it('are shown to leads and admins only, and job logs and errors name the host only', async () => {
    const dir = join(world.dir, 'hooks');
    await mkdir(dir, { recursive: true });
    receiver = createServer((_req, res) => res.writeHead(500).end('no'));
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const secretUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/T0KEN-IN-THE-PATH?key=QUERY-SECRET`;
    const svn = await SvnRepo.create(dir, { 'www/index.html': 'index\n' });
    const project = await createReadyProject(world.api, world.people.admin, {
      name: 'hooks',
      sourceUrl: svn.url,
      stagingPath: join(dir, 'staging'),
      targets: [{ name: 'web', path: join(dir, 'target') }],
      members: [
        { user: world.people.dev, role: 'DEVELOPER' },
        { user: world.people.lead, role: 'LEAD' },
        { user: world.people.viewer, role: 'VIEWER' },
      ],
    });
    await ok(
      world.api,
      world.people.admin.token,
      'mutation($p: ID!, $u: String!) { addWebhook(projectId: $p, url: $u) { id } }',
      {
        p: project,
        u: secretUrl,
      },
    );
    const read = 'query($p: ID!) { project(id: $p) { webhooks { url } } }';
    for (const who of ['viewer', 'dev'] as const) {
      const denied = await world.api.gql(read, { p: project }, { token: world.people[who].token });
      expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(JSON.stringify(denied)).not.toContain('T0KEN');
    }
    const lead = await ok(world.api, world.people.lead.token, read, { p: project });
    expect(lead.project.webhooks).toEqual([{ url: secretUrl }]);

    const ticket = await ok(
      world.api,
      world.people.dev.token,
      'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
      { i: { projectId: project, reason: 'hook', paths: ['www/index.html'] } },
    );
    const jobOf = 'query($id: ID!) { ticket(id: $id) { jobs { kind error log { text } } } }';
    const tried = await waitFor(
      () => ok(world.api, world.people.lead.token, jobOf, { id: ticket.submitTicket.id }),
      (d) => d.ticket.jobs.some((j: { kind: string; error: string | null }) => j.kind === 'WEBHOOK' && j.error),
    );
    const hook = tried.ticket.jobs.find((j: { kind: string }) => j.kind === 'WEBHOOK');
    expect(hook.error).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/… answered 500$/);
    expect(JSON.stringify(tried)).not.toMatch(/T0KEN|QUERY-SECRET/);
    expect(hook.log.map((l: { text: string }) => l.text)).toContainEqual(expect.stringMatching(/^POST http:\/\/127/));
  });
});

describe('the HTTP surface', () => {
  function rawPost(url: string, chunks: number, chunkSize: number): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const target = new URL(`${url}/graphql`);
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          path: '/graphql',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      // A valid query padded with white space, sent in chunks with no content-length.
      req.write('{"query":"{ __typename }"');
      const padding = ' '.repeat(chunkSize);
      let sent = 0;
      const pump = () => {
        while (sent < chunks) {
          sent++;
          if (!req.write(padding)) return void req.once('drain', pump);
        }
        req.end('}');
      };
      pump();
    });
  }

  it('counts the bytes of a chunked body against the 2 MiB limit', async () => {
    const small = await rawPost(world.api.url, 16, 64 * 1024);
    expect(small.status).toBe(200);
    expect(JSON.parse(small.body)).toEqual({ data: { __typename: 'Query' } });
    const large = await rawPost(world.api.url, 320, 64 * 1024).catch((error: Error) => ({
      status: -1,
      body: error.message,
    }));
    expect(large.status).toBe(413);
  });

  it('sends security headers with the console and the API', async () => {
    for (const path of ['/', '/graphql?query=%7B__typename%7D']) {
      const response = await fetch(`${world.api.url}${path}`, { headers: { 'x-slipway-csrf': '1' } });
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('serves the console compressed, its hashed assets cached for a year and the page itself asked again', async () => {
    const page = await fetch(`${world.api.url}/`, { headers: { 'accept-encoding': 'gzip' } });
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    const script = /src="(\/assets\/index-[^"]+\.js)"/.exec(html)?.[1] as string;
    expect(script).toBeTruthy();
    for (const encoding of ['br', 'gzip']) {
      const { request } = await import('node:http');
      // fetch would decompress it: ask with node:http to see what goes over the wire.
      const answer = await new Promise<{ headers: Record<string, unknown>; bytes: number }>((resolve, reject) => {
        request(`${world.api.url}${script}`, { headers: { 'accept-encoding': encoding } }, (response) => {
          let bytes = 0;
          response.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
          });
          response.on('end', () => resolve({ headers: response.headers, bytes }));
        })
          .on('error', reject)
          .end();
      });
      expect(answer.headers['content-encoding']).toBe(encoding);
      expect(answer.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(answer.bytes).toBeLessThan(80 * 1024);
    }
  });

  it('asks for a Bearer token on /metrics once SLIPWAY_METRICS_TOKEN is set', async () => {
    const open = await fetch(`${world.api.url}/metrics`);
    expect(open.status).toBe(200);
    const server = await createSlipwayServer({
      database: world.database,
      logger: pino({ level: 'silent' }),
      metricsToken: 'a-long-metrics-token-0123456789',
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    try {
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      const allowed = await fetch(url, { headers: { authorization: 'Bearer a-long-metrics-token-0123456789' } });
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toContain('slipway_jobs');
    } finally {
      await server.shutdown();
    }
  });
});

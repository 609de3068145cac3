import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { freePort, jobs, projects, sourceCredentials, ticketEvents, tickets } from '@slipway/schema';
import { and, eq, sql } from 'drizzle-orm';
import { execa, type ResultPromise } from 'execa';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from './support/api.ts';
import { artifactsDir, launchBrowser, signedIn } from './support/browser.ts';
import type { TestDatabase } from './support/db.ts';
import { startTestWorker } from './support/executor.ts';
import { approvedRollback, ok, waitFor, waitForPort, waitForState } from './support/flow.ts';
import { GitRepo } from './support/git.ts';
import { createReadyProject } from './support/project.ts';
import { startSshd } from './support/sshd.ts';
import { SvnRepo } from './support/svn.ts';
import { createWorld, type World } from './support/world.ts';

type Login = 'dev' | 'lead';
let world: World<Login>;
let dir: string;
let database: TestDatabase;
let api: TestApi;
let worker: Worker;
let people: World<Login>['people'];
const dataDir = () => join(dir, 'data');
const stop: (() => unknown)[] = [];

/** Everything the executor logged (at debug level): greped for secrets with what it stored. */
const executorLog: string[] = [];
const executorLogger = () => pino({ level: 'debug' }, { write: (line: string) => void executorLog.push(line) });

const SVN_PASSWORD = 'svn-Pa55word-that-must-never-show';
const GIT_TOKEN = 'glpat-token-that-must-never-show-42';

beforeAll(async () => {
  world = await createWorld('team-tools', ['dev', 'lead']);
  ({ dir, database, api, people } = world);
  worker = await startTestWorker(database, dataDir(), { logger: executorLogger() });
}, 60_000);

afterAll(async () => {
  for (const s of stop) await s();
  await worker?.stop();
  await world?.close();
});

const members = () => [
  { user: people.dev, role: 'DEVELOPER' as const },
  { user: people.lead, role: 'LEAD' as const },
];

/** svnserve on a free port, serving `root`, where anonymous users may do nothing and `alice` may write. */
async function startSvnserve(root: string, repoName: string): Promise<string> {
  const conf = join(root, repoName, 'conf');
  await writeFile(
    join(conf, 'svnserve.conf'),
    '[general]\nanon-access = none\nauth-access = write\npassword-db = passwd\nrealm = slipway-test\n',
  );
  await writeFile(join(conf, 'passwd'), `[users]\nalice = ${SVN_PASSWORD}\n`);
  const port = await freePort();
  const server: ResultPromise = execa(
    'svnserve',
    ['-d', '--foreground', '--listen-host', '127.0.0.1', '--listen-port', String(port), '-r', root],
    { reject: false },
  );
  stop.push(() => server.kill('SIGTERM'));
  await waitForPort(port);
  return `svn://127.0.0.1:${port}/${repoName}`;
}

/** `git http-backend` behind a small HTTP server that wants Basic auth: `bob` and GIT_TOKEN. */
async function startGitHttp(root: string): Promise<{ url: string; server: Server }> {
  const expected = `Basic ${Buffer.from(`bob:${GIT_TOKEN}`).toString('base64')}`;
  const server = createServer((request, response) => {
    if (request.headers.authorization !== expected) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="git"' });
      response.end('unauthorised');
      return;
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...process.env,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: request.method ?? 'GET',
        CONTENT_TYPE: request.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: request.headers['content-encoding'] ?? '',
        HTTP_GIT_PROTOCOL: String(request.headers['git-protocol'] ?? ''),
        REMOTE_USER: 'bob',
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    request.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) return void response.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString('utf8').split('\r\n')) {
        const [name = '', ...rest] = line.split(':');
        const value = rest.join(':').trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else response.setHeader(name, value);
      }
      response.writeHead(status);
      response.write(head.subarray(end + 4));
    });
    cgi.on('close', () => response.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stop.push(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function createProject(name: string, sourceType: 'SVN' | 'GIT', sourceUrl: string): Promise<string> {
  const created = await ok(
    api,
    people.admin.token,
    'mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }',
    {
      i: { name, sourceType, sourceUrl, stagingPath: join(dir, `staging-${name}`) },
    },
  );
  const id = created.createProject.id as string;
  await ok(
    api,
    people.admin.token,
    'mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }',
    {
      p: id,
      t: { name: 'local', path: join(dir, 'targets', name) },
    },
  );
  for (const { user, role } of members())
    await ok(
      api,
      people.admin.token,
      'mutation($p: ID!, $u: ID!, $r: Role) { setMember(projectId: $p, userId: $u, role: $r) { id } }',
      {
        p: id,
        u: user.id,
        r: role,
      },
    );
  return id;
}

const PROJECT = 'query($id: ID!) { project(id: $id) { ready initError sourceCredentials { username set } } }';
const projectState = (id: string, token = people.admin.token) => ok(api, token, PROJECT, { id }).then((d) => d.project);
const initDone = (id: string) =>
  waitFor(
    () => projectState(id),
    (p) => p.ready || p.initError,
    60_000,
  );

async function stageTicket(projectId: string, paths: string[]): Promise<string> {
  const submitted = await ok(
    api,
    people.dev.token,
    'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
    {
      i: { projectId, reason: `change ${paths.join(', ')}`, paths },
    },
  );
  const id = submitted.submitTicket.id as string;
  const staged = await waitForState(api, people.dev.token, id, ['AWAITING_TEST', 'STAGING_FAILED'], 60_000);
  expect(staged.state, JSON.stringify(staged.events.at(-1))).toBe('AWAITING_TEST');
  return id;
}

/**
 * Every text Slipway stored from its jobs (log lines, job errors, ticket comments, project errors) and everything the
 * executor logged.
 */
async function everythingStored(): Promise<string> {
  const rows = await database.db.execute<{ text: string | null }>(sql`
    select text from job_log_lines
    union all select last_error from jobs
    union all select comment from ticket_events
    union all select init_error from projects`);
  return [...rows.map((r) => r.text ?? ''), ...executorLog].join('\n');
}

describe('repository credentials', () => {
  it('svn behind a password: refused without it or with a wrong one (clearly, no secret shown), works with it', async () => {
    await mkdir(join(dir, 'svn'), { recursive: true });
    const repo = await SvnRepo.create(join(dir, 'svn'), { 'www/index.html': 'one\n', 'www/b.txt': 'b\n' });
    const url = await startSvnserve(join(dir, 'svn'), 'svnrepo');
    const projectId = await createProject('svn-private', 'SVN', url);
    const anonymous = await initDone(projectId);
    expect(anonymous.ready).toBe(false);
    expect(anonymous.initError).toMatch(/the repository wants a username and password: an admin sets them/);

    const set =
      'mutation($p: ID!, $u: String!, $s: String!) { setSourceCredentials(projectId: $p, username: $u, secret: $s) { id } }';
    const byLead = await api.gql(set, { p: projectId, u: 'alice', s: SVN_PASSWORD }, { token: people.lead.token });
    expect(byLead.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const newline = await api.gql(set, { p: projectId, u: 'alice', s: 'two\nlines' }, { token: people.admin.token });
    expect(newline.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'secret' });

    // A wrong password: the checkout runs again (setting credentials retries a failed one) and fails saying why.
    await ok(api, people.admin.token, set, { p: projectId, u: 'alice', s: 'not-the-password-at-all' });
    const wrong = await initDone(projectId);
    expect(wrong.ready).toBe(false);
    expect(wrong.initError).toMatch(/the repository refused the project's source credentials \(user alice\)/);

    await ok(api, people.admin.token, set, { p: projectId, u: 'alice', s: SVN_PASSWORD });
    const good = await initDone(projectId);
    expect(good).toMatchObject({ ready: true, initError: null, sourceCredentials: { username: 'alice', set: true } });
    expect((await projectState(projectId, people.lead.token)).sourceCredentials).toBeNull();
    const [stored] = await database.db
      .select()
      .from(sourceCredentials)
      .where(eq(sourceCredentials.projectId, Number(projectId)));
    expect(stored?.secret).toMatch(/^v1:/);
    expect(stored?.secret).not.toContain(SVN_PASSWORD);

    // Staging signs in too (svn update); then the ticket goes all the way to production.
    await repo.commit('two', { 'www/index.html': 'two\n' });
    const ticketId = await stageTicket(projectId, ['www/index.html']);
    await ok(api, people.lead.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id: ticketId });
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id: ticketId });
    await ok(api, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id: ticketId });
    await waitForState(api, people.dev.token, ticketId, 'DEPLOYED', 60_000);
    expect(executorLog.length).toBeGreaterThan(10);
    const stored2 = await everythingStored();
    expect(stored2).not.toContain(SVN_PASSWORD);
    expect(stored2).not.toContain('not-the-password-at-all');
  }, 120_000);

  it('git over https-like http with a token: refused without it, works with it, no token in any log', async () => {
    await mkdir(join(dir, 'git'), { recursive: true });
    const repo = await GitRepo.create(join(dir, 'git'), 'main', { 'www/index.html': 'one\n' });
    const backend = await startGitHttp(join(dir, 'git'));
    const projectId = await createProject('git-private', 'GIT', `${backend.url}/origin.git`);
    const anonymous = await initDone(projectId);
    expect(anonymous.ready).toBe(false);
    expect(anonymous.initError).toMatch(/the repository wants a username and password/);
    await ok(
      api,
      people.admin.token,
      'mutation($p: ID!, $u: String!, $s: String!) { setSourceCredentials(projectId: $p, username: $u, secret: $s) { id } }',
      { p: projectId, u: 'bob', s: GIT_TOKEN },
    );
    expect(await initDone(projectId)).toMatchObject({ ready: true, sourceCredentials: { username: 'bob', set: true } });
    await repo.commit('two', { 'www/index.html': 'two\n' });
    await stageTicket(projectId, ['www/index.html']);
    expect(await everythingStored()).not.toContain(GIT_TOKEN);
    // The token is nowhere in the staging copy's git configuration either.
    const { stdout } = await execa('git', ['-C', join(dir, 'staging-git-private'), 'config', '--list']);
    expect(stdout).not.toContain(GIT_TOKEN);
    await ok(api, people.admin.token, 'mutation($p: ID!) { clearSourceCredentials(projectId: $p) { id } }', {
      p: projectId,
    });
    expect((await projectState(projectId)).sourceCredentials).toBeNull();
  }, 120_000);
});

describe('sources over ssh', () => {
  const UPDATE = 'mutation($id: ID!, $i: UpdateProjectInput!) { updateProject(id: $id, input: $i) { id } }';

  it('svn+ssh and git over ssh sign in with the project’s source key, and say plainly what the server refused', async () => {
    const sshd = await startSshd(join(dir, 'source-sshd'));
    stop.push(() => sshd.stop());
    const stranger = join(dir, 'source-sshd', 'stranger_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const host = `${sshd.user}@127.0.0.1:${sshd.port}`;

    await mkdir(join(dir, 'svn-ssh'), { recursive: true });
    const svnRepo = await SvnRepo.create(join(dir, 'svn-ssh'), { 'www/index.html': 'one\n' });
    const svnId = await createProject('svn-over-ssh', 'SVN', `svn+ssh://${host}${svnRepo.url.replace('file://', '')}`);
    // No known host key: ssh asks no one and refuses.
    expect((await initDone(svnId)).initError).toMatch(/host key .*knownHostsPath/);
    // A key the server does not accept: refused, said so; a new key starts the checkout again.
    await ok(api, people.admin.token, UPDATE, {
      id: svnId,
      i: { knownHostsPath: sshd.knownHostsPath, sourceSshKeyPath: stranger },
    });
    expect((await initDone(svnId)).initError).toMatch(/refused the key: set the project's sourceSshKeyPath/);
    const badPath = await api.gql(
      UPDATE,
      { id: svnId, i: { sourceSshKeyPath: '/keys/my key' } },
      {
        token: people.admin.token,
      },
    );
    expect(badPath.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.sourceSshKeyPath' });
    await ok(api, people.admin.token, UPDATE, { id: svnId, i: { sourceSshKeyPath: sshd.keyPath } });
    expect(await initDone(svnId)).toMatchObject({ ready: true, initError: null });
    await svnRepo.commit('two', { 'www/index.html': 'two\n' });
    await stageTicket(svnId, ['www/index.html']);

    await mkdir(join(dir, 'git-ssh'), { recursive: true });
    const gitRepo = await GitRepo.create(join(dir, 'git-ssh'), 'main', { 'www/index.html': 'one\n' });
    const gitId = await createProject('git-over-ssh', 'GIT', `ssh://${host}${gitRepo.url.replace('file://', '')}`);
    expect((await initDone(gitId)).ready).toBe(false);
    await ok(api, people.admin.token, UPDATE, {
      id: gitId,
      i: { knownHostsPath: sshd.knownHostsPath, sourceSshKeyPath: sshd.keyPath },
    });
    expect(await initDone(gitId)).toMatchObject({ ready: true, initError: null });
    await gitRepo.commit('two', { 'www/index.html': 'two\n' });
    await stageTicket(gitId, ['www/index.html']);
  }, 120_000);
});

describe('scheduled deploys', () => {
  let projectId: string;
  let repo: SvnRepo;

  beforeAll(async () => {
    await mkdir(join(dir, 'sched'), { recursive: true });
    repo = await SvnRepo.create(join(dir, 'sched'), { 'www/a.txt': 'a\n', 'www/b.txt': 'b\n', 'www/c.txt': 'c\n' });
    projectId = await createReadyProject(api, people.admin, {
      name: 'scheduled',
      sourceUrl: repo.url,
      stagingPath: join(dir, 'staging-scheduled'),
      settings: {},
      targets: [{ name: 'local', path: join(dir, 'targets', 'scheduled') }],
      members: members(),
    });
  }, 60_000);

  async function approved(path: string): Promise<string> {
    await repo.commit(`change ${path}`, { [path]: `${path} ${Date.now()}\n` });
    const id = await stageTicket(projectId, [path]);
    await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    return id;
  }
  const schedule = (id: string, at: Date, token = people.dev.token) =>
    api.gql(
      'mutation($id: ID!, $at: DateTime!) { scheduleDeploy(id: $id, at: $at) { id scheduledAt scheduledBy { login } } }',
      { id, at: at.toISOString() },
      { token },
    );
  const eventsOf = async (id: string) =>
    database.db
      .select()
      .from(ticketEvents)
      .where(eq(ticketEvents.ticketId, Number(id)))
      .orderBy(ticketEvents.id);

  it("is scheduled and cancelled from the ticket page, in the viewer's own time", async () => {
    const id = await approved('www/b.txt');
    const browser = await launchBrowser();
    try {
      const dev = await signedIn(browser, api.url, 'dev', people.dev.password);
      await dev.page.goto(`${api.url}/#/tickets/${id}`);
      // Tomorrow at 03:30, local time of the browser.
      const when = new Date(Date.now() + 86_400_000);
      when.setHours(3, 30, 0, 0);
      const pad = (n: number) => String(n).padStart(2, '0');
      const local = `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}T03:30`;
      await dev.page.fill('#schedule-at', local);
      await dev.page.click('[data-action=SCHEDULE]');
      await expect.poll(() => dev.page.textContent('[data-testid=scheduled-at]')).toMatch(/3:30/);
      const [row] = await database.db
        .select()
        .from(tickets)
        .where(eq(tickets.id, Number(id)));
      expect(row?.scheduledAt?.getTime()).toBe(new Date(local).getTime());
      await dev.page.screenshot({ path: join(artifactsDir, 'ticket-scheduled-en.png'), fullPage: true });
      await dev.page.click('[data-action=UNSCHEDULE]');
      await expect.poll(() => dev.page.locator('[data-testid=scheduled-at]').count()).toBe(0);
      expect(dev.errors).toEqual([]);
    } finally {
      await browser.close();
    }
    await ok(api, people.dev.token, 'mutation($id: ID!) { cancelTicket(id: $id) { id } }', { id });
  }, 60_000);

  it('starts at the time as its scheduler, survives an executor restart, can be cancelled, and meets a freeze', async () => {
    const fires = await approved('www/a.txt');
    const past = await schedule(fires, new Date(Date.now() - 1000));
    expect(past.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'at' });
    const at = new Date(Date.now() + 3000);
    const scheduled = await schedule(fires, at);
    expect(scheduled.errors).toBeUndefined();
    expect(
      (scheduled.data as { scheduleDeploy: { scheduledBy: { login: string } } }).scheduleDeploy.scheduledBy.login,
    ).toBe('dev');
    // The executor is down when the time comes; the schedule is a job, so the next one starts it.
    await worker.stop();
    await new Promise((resolve) => setTimeout(resolve, 3500));
    worker = await startTestWorker(database, dataDir(), { logger: executorLogger() });
    const done = await waitForState(api, people.dev.token, fires, 'DEPLOYED', 60_000);
    const deploy = done.events.find((e) => e.action === 'DEPLOY');
    expect(deploy?.actor?.login).toBe('dev');
    // Said as a person reads it (the message keeps the instant, for the console to show in the viewer's time).
    expect(deploy?.comment).toBe(
      `as scheduled for ${at.toISOString().slice(0, 10)} ${at.toISOString().slice(11, 16)} UTC`,
    );

    const cancelled = await approved('www/b.txt');
    expect((await schedule(cancelled, new Date(Date.now() + 2000))).errors).toBeUndefined();
    await ok(api, people.lead.token, 'mutation($id: ID!) { unscheduleDeploy(id: $id) { id scheduledAt } }', {
      id: cancelled,
    });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await waitForState(api, people.dev.token, cancelled, 'APPROVED')).state).toBe('APPROVED');
    expect((await eventsOf(cancelled)).map((e) => e.action)).toEqual([
      'SUBMIT',
      'STAGED',
      'PASS_TEST',
      'APPROVE',
      'SCHEDULE_DEPLOY',
      'UNSCHEDULE_DEPLOY',
    ]);

    const frozen = await approved('www/c.txt');
    expect((await schedule(frozen, new Date(Date.now() + 2000))).errors).toBeUndefined();
    await ok(
      api,
      people.lead.token,
      'mutation($p: ID!) { freezeProject(projectId: $p, reason: "release night") { id } }',
      {
        p: projectId,
      },
    );
    const failed = await waitFor(
      () =>
        database.db
          .select()
          .from(jobs)
          .where(and(eq(jobs.ticketId, Number(frozen)), eq(jobs.kind, 'DEPLOY_AT'))),
      ([job]) => job?.state === 'FAILED',
      30_000,
    );
    expect(failed[0]?.lastError).toMatch(/^FROZEN: deploys are frozen: release night/);
    const view = await waitForState(api, people.dev.token, frozen, 'APPROVED');
    expect(view.events.at(-1)).toMatchObject({ action: 'SCHEDULED_DEPLOY_FAILED', actor: null });
    const [row] = await database.db
      .select()
      .from(projects)
      .where(eq(projects.id, Number(projectId)));
    expect(row?.frozenReason).toBe('release night');
  }, 180_000);

  it('of a rollback ticket rolls back, as its Deploy button would', async () => {
    await ok(api, people.lead.token, 'mutation($p: ID!) { unfreezeProject(projectId: $p) { id } }', { p: projectId });
    const target = join(dir, 'targets', 'scheduled', 'www', 'a.txt');
    const before = await readFile(target, 'utf8');
    const second = await approved('www/a.txt');
    await ok(api, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id: second });
    await waitForState(api, people.dev.token, second, 'DEPLOYED', 60_000);
    expect(await readFile(target, 'utf8')).not.toBe(before);
    const { releases } = await ok(api, people.dev.token, 'query($p: ID!) { releases(projectId: $p) { id live } }', {
      p: projectId,
    });
    const previous = releases.find((r: { live: boolean }) => !r.live);
    const rollback = await approvedRollback(api, people.dev.token, people.lead.token, previous.id, 'back at night');
    expect((await schedule(rollback, new Date(Date.now() + 2000))).errors).toBeUndefined();
    const done = await waitForState(api, people.dev.token, rollback, 'DEPLOYED', 60_000);
    expect(done.events.find((e) => e.action === 'DEPLOY')?.actor?.login).toBe('dev');
    const kinds = await database.db
      .select({ kind: jobs.kind, state: jobs.state })
      .from(jobs)
      .where(eq(jobs.ticketId, Number(rollback)))
      .orderBy(jobs.id);
    expect(kinds).toEqual([
      { kind: 'DEPLOY_AT', state: 'SUCCEEDED' },
      { kind: 'ROLLBACK', state: 'SUCCEEDED' },
    ]);
    expect(await readFile(target, 'utf8')).toBe(before);
    const after = await ok(api, people.dev.token, 'query($p: ID!) { releases(projectId: $p) { id live } }', {
      p: projectId,
    });
    expect(after.releases.find((r: { live: boolean }) => r.live)?.id).toBe(previous.id);
  }, 120_000);
});

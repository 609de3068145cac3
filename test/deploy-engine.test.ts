import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { freePort, notificationOf } from '@slipway/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from './support/api.ts';
import type { TestDatabase } from './support/db.ts';
import { startTestWorker } from './support/executor.ts';
import { approvedRollback, ok, type TicketView, ticket, waitFor, waitForState } from './support/flow.ts';
import { createReadyProject, ledgerOf } from './support/project.ts';
import { type Sshd, startSshd } from './support/sshd.ts';
import { SvnRepo } from './support/svn.ts';
import { snapshot, tagSnapshot } from './support/tree.ts';
import { createWorld, type World } from './support/world.ts';

let world: World<'dev' | 'lead'>;
let dir: string;
let database: TestDatabase;
let api: TestApi;
let worker: Worker;
let sshd: Sshd;
let bigRepo: SvnRepo;
let smallRepo: SvnRepo;
let people: World<'dev' | 'lead'>['people'];
const dataDir = () => join(dir, 'data');

beforeAll(async () => {
  world = await createWorld('engine', ['dev', 'lead']);
  ({ dir, database, api, people } = world);
  const tree: Record<string, string> = { 'www/changing.bin': randomBytes(100 * 1024).toString('hex') };
  for (let i = 0; i < 5000; i++)
    tree[`www/pages/p${String(i).padStart(4, '0')}.html`] = `<p>page ${i}</p>\n`.repeat(20);
  await mkdir(join(dir, 'big'));
  await mkdir(join(dir, 'small'));
  bigRepo = await SvnRepo.create(join(dir, 'big'), tree);
  smallRepo = await SvnRepo.create(join(dir, 'small'), { 'www/index.html': 'v0\n', 'www/app.txt': 'app 0\n' });
  sshd = await startSshd(dir);
  worker = await startTestWorker(database, dataDir(), { concurrency: 4 });
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  await sshd?.stop();
  await world?.close();
});

const members = () => [
  { user: people.dev, role: 'DEVELOPER' as const },
  { user: people.lead, role: 'LEAD' as const },
];

/** Commits `files`, files a ticket on their paths, and takes it through test and approval. */
async function approved(projectId: string, repo: SvnRepo, files: Record<string, string>): Promise<string> {
  await repo.commit('change', files);
  const submitted = await ok(
    api,
    people.dev.token,
    'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
    {
      i: { projectId, reason: `change ${Object.keys(files).join(', ')}`, paths: Object.keys(files) },
    },
  );
  const id: string = submitted.submitTicket.id;
  await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
  await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
  await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
  return id;
}

async function deploy(id: string, mutation = 'deployTicket'): Promise<TicketView> {
  await ok(api, people.dev.token, `mutation($id: ID!) { ${mutation}(id: $id) { id } }`, { id });
  return waitForState(api, people.dev.token, id, ['DEPLOYED', 'DEPLOY_FAILED'], 120_000);
}

async function release(projectId: string, repo: SvnRepo, files: Record<string, string>): Promise<TicketView> {
  return deploy(await approved(projectId, repo, files));
}

async function jobLog(jobId: string): Promise<string[]> {
  const data = await ok(api, people.dev.token, 'query($j: ID!) { job(id: $j) { log { text } } }', { j: jobId });
  return data.job.log.map((l: { text: string }) => l.text);
}

const lastJob = (view: TicketView) => view.jobs.at(-1)?.id as string;
const results = (view: TicketView) => Object.fromEntries(view.deployResults.map((r) => [r.targetName, r.outcome]));

describe('atomic mode', () => {
  const targetPath = (i: number) => join(dir, 'atomic', `t${i}`);
  let projectId: string;

  beforeAll(async () => {
    projectId = await createReadyProject(api, people.admin, {
      name: 'atomic',
      sourceUrl: bigRepo.url,
      stagingPath: join(dir, 'staging-atomic'),
      settings: {
        deployMode: 'ATOMIC',
        keepReleases: 3,
        sshKeyPath: sshd.keyPath,
        knownHostsPath: sshd.knownHostsPath,
      },
      targets: Array.from({ length: 10 }, (_, i) => ({
        name: `t${i}`,
        host: '127.0.0.1',
        port: sshd.port,
        user: sshd.user,
        path: targetPath(i),
      })),
      members: members(),
    });
  }, 120_000);

  it('uploads only what changed (hard links for the rest) and switches every target; a rollback is a symlink switch', async () => {
    const first = await release(projectId, bigRepo, { 'www/changing.bin': randomBytes(100 * 1024).toString('hex') });
    expect(first.state, JSON.stringify(first.jobs)).toBe('DEPLOYED');
    const second = await release(projectId, bigRepo, { 'www/changing.bin': randomBytes(100 * 1024).toString('hex') });
    expect(second.state).toBe('DEPLOYED');
    expect(second.release?.tag).toBe('v2');
    const changedSize = 200 * 1024;
    for (const result of second.deployResults) {
      expect(result).toMatchObject({ outcome: 'OK', filesChanged: 1 });
      // The changed file plus rsync's file list of 5,001 entries: far below the ~2.2 MB tree.
      expect(result.bytesSent).toBeGreaterThan(changedSize / 2);
      expect(result.bytesSent).toBeLessThan(changedSize + 250 * 1024);
    }
    const ledger = ledgerOf(dataDir(), projectId);
    for (let i = 0; i < 10; i++) {
      expect(await readlink(join(targetPath(i), 'current'))).toBe('releases/v2');
      const unchanged = 'www/pages/p0042.html';
      const [a, b] = await Promise.all([
        stat(join(targetPath(i), 'releases/v1', unchanged)),
        stat(join(targetPath(i), 'releases/v2', unchanged)),
      ]);
      expect(a.ino).toBe(b.ino);
    }
    expect(await snapshot(join(targetPath(3), 'current/'))).toEqual(await tagSnapshot(ledger, 'v2'));

    // Roll back to v1: every target still holds releases/v1, so nothing is copied.
    const releases = await ok(api, people.dev.token, 'query($p: ID!) { releases(projectId: $p) { id tag } }', {
      p: projectId,
    });
    const v1 = releases.releases.find((r: { tag: string }) => r.tag === 'v1');
    const rollbackId = await approvedRollback(api, people.dev.token, people.lead.token, v1.id, 'v2 is slow');
    const rolledBack = await deploy(rollbackId);
    expect(rolledBack.state).toBe('DEPLOYED');
    expect(rolledBack.deployResults.map((r) => [r.outcome, r.bytesSent, r.filesChanged])).toEqual(
      Array.from({ length: 10 }, () => ['OK', 0, 0]),
    );
    expect((await jobLog(lastJob(rolledBack))).some((line) => line.startsWith('$ rsync'))).toBe(false);
    for (let i = 0; i < 10; i++) expect(await readlink(join(targetPath(i), 'current'))).toBe('releases/v1');
    const after = await ok(api, people.dev.token, 'query($p: ID!) { releases(projectId: $p) { tag live bad } }', {
      p: projectId,
    });
    expect(after.releases).toEqual([
      { tag: 'v2', live: false, bad: true },
      { tag: 'v1', live: true, bad: false },
      { tag: 'v0', live: false, bad: false },
    ]);
  }, 240_000);
});

describe('atomic mode across a fleet with one unreachable target', () => {
  it('switches no target while one lacks the release, and the retry switches all ten together', async () => {
    const other = await startSshd(join(dir, 'second-sshd'));
    const targetPath = (i: number) => join(dir, 'fleet', `t${i}`);
    try {
      const projectId = await createReadyProject(api, people.admin, {
        name: 'fleet',
        sourceUrl: smallRepo.url,
        stagingPath: join(dir, 'staging-fleet'),
        settings: { deployMode: 'ATOMIC', sshKeyPath: sshd.keyPath, knownHostsPath: sshd.knownHostsPath },
        targets: Array.from({ length: 10 }, (_, i) => ({
          name: `t${i}`,
          host: '127.0.0.1',
          // t9 is behind a second sshd, which goes down during the deploy.
          port: i === 9 ? other.port : sshd.port,
          user: sshd.user,
          path: targetPath(i),
        })),
        members: members(),
      });
      // Both servers accept the same client key; the second one's host key joins the known hosts.
      await writeFile(
        sshd.knownHostsPath,
        `${await readFile(sshd.knownHostsPath, 'utf8')}${await readFile(other.knownHostsPath, 'utf8')}`,
      );
      await writeFile(join(dir, 'second-sshd', 'sshd', 'authorized_keys'), await readFile(`${sshd.keyPath}.pub`));
      expect((await release(projectId, smallRepo, { 'www/index.html': 'one\n' })).state).toBe('DEPLOYED');

      await other.stop();
      const id = await approved(projectId, smallRepo, { 'www/index.html': 'two\n' });
      const failed = await deploy(id);
      expect(failed.state).toBe('DEPLOY_FAILED');
      expect(results(failed)).toEqual({
        ...Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`t${i}`, 'SKIPPED'])),
        t9: 'FAILED',
      });
      for (let i = 0; i < 9; i++) {
        expect(await readlink(join(targetPath(i), 'current'))).toBe('releases/v1');
        expect(await readFile(join(targetPath(i), 'current/www/index.html'), 'utf8')).toBe('one\n');
      }

      await other.restart();
      const retried = await deploy(id, 'retryDeploy');
      expect(retried.state).toBe('DEPLOYED');
      for (let i = 0; i < 10; i++) expect(await readlink(join(targetPath(i), 'current'))).toBe('releases/v2');
    } finally {
      await other.stop().catch(() => {});
    }
  }, 180_000);
});

describe('in-place fan-out with a canary', () => {
  it('stops at a failing canary; a later failure leaves the others deployed and the retry redoes only that target', async () => {
    const base = join(dir, 'inplace');
    const names = ['a-canary', ...Array.from({ length: 9 }, (_, i) => `t${i + 1}`)];
    // A target path under a plain file cannot be created: that target fails until the file goes.
    const block = async (name: string) => {
      await mkdir(join(base, 'blocked'), { recursive: true });
      await writeFile(join(base, 'blocked', name), 'not a directory');
    };
    const unblock = (name: string) => rm(join(base, 'blocked', name), { force: true });
    const pathOf = (name: string) => join(base, 'blocked', name, 'www-root');
    const projectId = await createReadyProject(api, people.admin, {
      name: 'inplace',
      sourceUrl: smallRepo.url,
      stagingPath: join(dir, 'staging-inplace'),
      settings: { parallelism: 5, batchSize: 1 },
      targets: names.map((name) => ({ name, path: pathOf(name) })),
      members: members(),
    });
    await block('a-canary');
    const id = await approved(projectId, smallRepo, { 'www/app.txt': 'app 1\n' });
    const canaryFailed = await deploy(id);
    expect(canaryFailed.state).toBe('DEPLOY_FAILED');
    expect(results(canaryFailed)).toEqual(
      Object.fromEntries(names.map((n) => [n, n === 'a-canary' ? 'FAILED' : 'SKIPPED'])),
    );
    await expect(stat(pathOf('t1'))).rejects.toThrow();

    await unblock('a-canary');
    await block('t7');
    const laterFailed = await deploy(id, 'retryDeploy');
    expect(laterFailed.state).toBe('DEPLOY_FAILED');
    expect(results(laterFailed)).toEqual(Object.fromEntries(names.map((n) => [n, n === 't7' ? 'FAILED' : 'OK'])));
    expect(await readFile(join(pathOf('t3'), 'www/app.txt'), 'utf8')).toBe('app 1\n');

    await unblock('t7');
    const finished = await deploy(id, 'retryDeploy');
    expect(finished.state).toBe('DEPLOYED');
    expect(results(finished)).toEqual(Object.fromEntries(names.map((n) => [n, n === 't7' ? 'OK' : 'SKIPPED'])));
    expect(await snapshot(pathOf('t7'))).toEqual(await tagSnapshot(ledgerOf(dataDir(), projectId), 'v1'));
  }, 120_000);

  it('readies the targets after the canary while it runs without touching them: a failure found then waits for their turn', async () => {
    const base = join(dir, 'inplace-ready');
    const blocker = join(base, 'blocker');
    await mkdir(base, { recursive: true });
    await writeFile(blocker, 'not a directory');
    // b-down is an ssh target nobody listens for: its connection, opened while the canary runs, fails.
    const port = await freePort();
    const projectId = await createReadyProject(api, people.admin, {
      name: 'inplace-ready',
      sourceUrl: smallRepo.url,
      stagingPath: join(dir, 'staging-inplace-ready'),
      settings: { parallelism: 5, batchSize: 1 },
      targets: [
        { name: 'a-canary', path: join(blocker, 'canary') },
        { name: 'b-down', host: '127.0.0.1', port, path: join(base, 'b-down') },
        { name: 'c', path: join(base, 'c') },
      ],
      members: members(),
    });
    const id = await approved(projectId, smallRepo, { 'www/ready.txt': 'ready\n' });
    // The canary fails: b-down is skipped with the rest (its failed start is not its outcome), c is not touched.
    const canaryFailed = await deploy(id);
    expect(results(canaryFailed)).toEqual({ 'a-canary': 'FAILED', 'b-down': 'SKIPPED', c: 'SKIPPED' });
    await expect(stat(join(base, 'c'))).rejects.toThrow();
    const log = await jobLog(lastJob(canaryFailed));
    const at = (prefix: string) => log.findIndex((line) => line.startsWith(prefix));
    expect(at('c: full sync')).toBeGreaterThan(-1);
    expect(at('c: full sync')).toBeLessThan(at('✗ a-canary'));

    await rm(blocker);
    const retried = await deploy(id, 'retryDeploy');
    expect(results(retried)).toEqual({ 'a-canary': 'OK', 'b-down': 'FAILED', c: 'OK' });
    expect(retried.deployResults.find((r) => r.targetName === 'b-down')?.error).toMatch(/Connection refused/);
    expect(await readFile(join(base, 'c', 'www/ready.txt'), 'utf8')).toBe('ready\n');
  }, 120_000);
});

describe('hooks and health checks', () => {
  let health: Server;
  let healthStatus = 200;

  beforeAll(async () => {
    health = createServer((_req, res) => res.writeHead(healthStatus).end(String(healthStatus)));
    await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
  });

  afterAll(() => new Promise<void>((resolve) => health.close(() => resolve())));

  it('fails a target whose hook exits 1 or whose health check answers 500, with the cause in the log, and switches it back', async () => {
    const base = join(dir, 'hooks');
    const port = (health.address() as AddressInfo).port;
    const projectId = await createReadyProject(api, people.admin, {
      name: 'hooks',
      sourceUrl: smallRepo.url,
      stagingPath: join(dir, 'staging-hooks'),
      settings: {
        deployMode: 'ATOMIC',
        postDeploy: 'echo "post-deploy of $SLIPWAY_RELEASE on $SLIPWAY_TARGET"',
        healthCheckUrl: `http://127.0.0.1:${port}/health?host={host}`,
        healthCheckTimeoutSeconds: 2,
      },
      targets: [
        { name: 'a', path: join(base, 'a') },
        { name: 'b', path: join(base, 'b') },
      ],
      members: members(),
    });
    const good = await release(projectId, smallRepo, { 'www/index.html': 'good\n' });
    expect(good.state).toBe('DEPLOYED');
    expect(await jobLog(lastJob(good))).toContain('post-deploy of v1 on a');

    await ok(
      api,
      people.admin.token,
      'mutation($id: ID!) { updateProject(id: $id, input: { postDeploy: "echo failing on purpose >&2; exit 1" }) { id } }',
      {
        id: projectId,
      },
    );
    const hookFailed = await release(projectId, smallRepo, { 'www/index.html': 'bad hook\n' });
    expect(hookFailed.state).toBe('DEPLOY_FAILED');
    expect(results(hookFailed)).toEqual({ a: 'FAILED', b: 'SKIPPED' });
    expect(hookFailed.deployResults.find((r) => r.targetName === 'a')?.error).toMatch(/exit/);
    const hookLog = await jobLog(lastJob(hookFailed));
    expect(hookLog).toContain('failing on purpose');
    expect(hookLog.some((l) => /a: switching back to v1/.test(l))).toBe(true);
    expect(await readlink(join(base, 'a', 'current'))).toBe('releases/v1');
    expect(await readlink(join(base, 'b', 'current'))).toBe('releases/v1');

    await ok(
      api,
      people.admin.token,
      'mutation($id: ID!) { updateProject(id: $id, input: { postDeploy: null }) { id } }',
      { id: projectId },
    );
    healthStatus = 500;
    const unhealthy = await deploy(hookFailed.id, 'retryDeploy');
    expect(unhealthy.state).toBe('DEPLOY_FAILED');
    expect(unhealthy.deployResults.find((r) => r.targetName === 'a')?.error).toMatch(
      /health check .* failed: HTTP 500/,
    );
    expect(
      (await jobLog(lastJob(unhealthy))).some((l) =>
        /health check http:\/\/127\.0\.0\.1:\d+\/health\?host=localhost: HTTP 500/.test(l),
      ),
    ).toBe(true);
    expect(await readlink(join(base, 'a', 'current'))).toBe('releases/v1');

    healthStatus = 200;
    expect((await deploy(hookFailed.id, 'retryDeploy')).state).toBe('DEPLOYED');
    expect(await readlink(join(base, 'a', 'current'))).toBe('releases/v2');
    expect(await readFile(join(base, 'b', 'current/www/index.html'), 'utf8')).toBe('bad hook\n');
  }, 120_000);
});

describe('review, preview, freeze and webhooks', () => {
  it('shows the changes of a ticket, previews the deploy, honours a freeze, and signs and retries webhooks', async () => {
    const received: { body: string; signature: string | undefined }[] = [];
    let refusals = 2;
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        if (refusals-- > 0) return res.writeHead(503).end();
        received.push({ body, signature: req.headers['x-slipway-signature'] as string | undefined });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const target = join(dir, 'review-target');
      const projectId = await createReadyProject(api, people.admin, {
        name: 'review',
        sourceUrl: smallRepo.url,
        stagingPath: join(dir, 'staging-review'),
        targets: [{ name: 'web', path: target }],
        members: members(),
      });
      expect((await release(projectId, smallRepo, { 'www/index.html': 'first\n' })).state).toBe('DEPLOYED');
      const liveApp = await readFile(join(target, 'www/app.txt'), 'utf8');
      await ok(
        api,
        people.admin.token,
        'mutation($p: ID!, $u: String!) { addWebhook(projectId: $p, url: $u, secret: "s3cret") { id signed } }',
        {
          p: projectId,
          u: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
        },
      );

      await smallRepo.commit('review', {
        'www/index.html': 'first\nsecond line\n',
        'www/new.txt': 'new\n',
        'www/app.txt': null,
      });
      await smallRepo.commit('binary', { 'www/logo.png': '\u0000PNG binary\u0000' });
      const submitted = await ok(
        api,
        people.dev.token,
        'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
        {
          i: {
            projectId,
            reason: 'review me',
            paths: ['www/index.html', 'www/new.txt', 'www/app.txt', 'www/logo.png'],
          },
        },
      );
      const id = submitted.submitTicket.id;
      await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
      const changes = await ok(
        api,
        people.dev.token,
        'query($id: ID!) { ticket(id: $id) { changes { path change binary diff } } }',
        { id },
      );
      expect(
        changes.ticket.changes.map((c: { path: string; change: string; binary: boolean }) => [
          c.path,
          c.change,
          c.binary,
        ]),
      ).toEqual([
        ['www/app.txt', 'DELETED', false],
        ['www/index.html', 'MODIFIED', false],
        ['www/logo.png', 'ADDED', true],
        ['www/new.txt', 'ADDED', false],
      ]);
      const indexDiff = changes.ticket.changes.find((c: { path: string }) => c.path === 'www/index.html').diff;
      expect(indexDiff).toContain('--- a/www/index.html');
      expect(indexDiff).toContain('+second line');
      expect(changes.ticket.changes.find((c: { path: string }) => c.path === 'www/logo.png').diff).toBeNull();

      await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
      await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });

      const previewJob = await ok(api, people.dev.token, 'mutation($id: ID!) { previewDeploy(id: $id) { id } }', {
        id,
      });
      const preview = await waitFor(
        () =>
          ok(
            api,
            people.dev.token,
            'query($j: ID!) { job(id: $j) { state preview { targetName items { path change } error } } }',
            {
              j: previewJob.previewDeploy.id,
            },
          ),
        (d) => d.job.state === 'SUCCEEDED' || d.job.state === 'FAILED',
      );
      expect(preview.job.preview).toEqual([
        {
          targetName: 'web',
          error: null,
          items: expect.arrayContaining([
            { path: 'www/app.txt', change: 'DELETED' },
            { path: 'www/index.html', change: 'MODIFIED' },
            { path: 'www/logo.png', change: 'ADDED' },
            { path: 'www/new.txt', change: 'ADDED' },
          ]),
        },
      ]);
      // A preview changes nothing on the targets.
      expect(await readFile(join(target, 'www/app.txt'), 'utf8')).toBe(liveApp);

      // A freeze refuses the deploy; an admin's override lets this one deploy through, on the record.
      await ok(
        api,
        people.lead.token,
        'mutation($p: ID!) { freezeProject(projectId: $p, reason: "release weekend") { freeze { reason } } }',
        {
          p: projectId,
        },
      );
      const refused = await api.gql(
        'mutation($id: ID!) { deployTicket(id: $id) { id } }',
        { id },
        { token: people.dev.token },
      );
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'FROZEN', reason: 'release weekend' });
      const asLead = await api.gql(
        'mutation($id: ID!) { overrideFreeze(id: $id, reason: "hotfix") { id } }',
        { id },
        { token: people.lead.token },
      );
      expect(asLead.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      await ok(
        api,
        people.admin.token,
        'mutation($id: ID!) { overrideFreeze(id: $id, reason: "security fix, approved by ops") { id } }',
        { id },
      );
      const deployed = await deploy(id);
      expect(deployed.state).toBe('DEPLOYED');
      expect(deployed.events.find((e) => e.action === 'OVERRIDE_FREEZE')).toMatchObject({
        comment: 'security fix, approved by ops',
      });
      const view = await ok(
        api,
        people.dev.token,
        'query($p: ID!) { project(id: $p) { freeze { reason by { login } } } }',
        { p: projectId },
      );
      expect(view.project.freeze).toEqual({ reason: 'release weekend', by: { login: 'lead' } });

      // Every event a NotificationEvent names reached the webhook, signed, after the receiver's first two refusals.
      const events = (await ticket(api, people.dev.token, id)).events.filter((e) => notificationOf(e.action, e.to));
      await waitFor(
        async () => new Set(received.map((d) => JSON.parse(d.body).deliveryId)).size,
        (n) => n >= events.length,
        60_000,
      );
      for (const delivery of received) {
        expect(delivery.signature).toBe(`sha256=${createHmac('sha256', 's3cret').update(delivery.body).digest('hex')}`);
      }
      const bodies = received.map((d) => JSON.parse(d.body));
      const deployedEvent = bodies.find((b) => b.event === 'DEPLOYED');
      expect(deployedEvent).toMatchObject({
        project: { name: 'review' },
        ticket: { id: Number(id), reason: 'review me', state: 'DEPLOYED', author: { login: 'dev' } },
        action: 'DEPLOYED',
        release: { tag: expect.stringMatching(/^v\d+$/) },
        environment: { name: 'production' },
        actor: null,
        url: `http://slipway.example.test/#/tickets/${id}`,
      });
      expect(bodies.find((b) => b.event === 'SUBMITTED')?.actor).toMatchObject({ login: 'dev' });
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  }, 180_000);
});

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { connect, EMBEDDED_APP_ROLE, type EmbeddedPostgres, migrate, startEmbeddedPostgres } from '@slipway/schema';
import { execa } from 'execa';
import { createClient } from 'graphql-ws';
import pgClient from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestUser, startTestApi, type TestApi, type TestUser } from './support/api.ts';
import type { TestDatabase } from './support/db.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, waitFor, waitForState } from './support/flow.ts';
import { createReadyProject, ledgerOf } from './support/project.ts';
import { type Sshd, startSshd } from './support/sshd.ts';
import { SvnRepo } from './support/svn.ts';
import { snapshot, tagSnapshot } from './support/tree.ts';

// This file restarts PostgreSQL, so it runs its own (embedded) server rather than the suite's shared one.
let dir: string;
let postgres: EmbeddedPostgres;
let database: TestDatabase;
let replicaA: TestApi;
let replicaB: TestApi;
let executors: Worker[] = [];
let svn: SvnRepo;
let sshd: Sshd;
const people = {} as Record<'admin' | 'dev' | 'lead', TestUser>;
const dataDir = () => join(dir, 'data');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-faults2-'));
  await chmod(dir, 0o755);
  postgres = await startEmbeddedPostgres(join(dir, 'pg'));
  await migrate(postgres.url, { appRole: EMBEDDED_APP_ROLE });
  database = {
    ...connect(postgres.appUrl, { max: 8 }),
    url: postgres.appUrl,
    adminUrl: postgres.url,
    name: 'slipway',
    drop: async () => {},
  };
  // Two server replicas and two executors on one database.
  replicaA = await startTestApi(database);
  replicaB = await startTestApi(database);
  executors = [
    await startTestWorker(database, dataDir(), { leaseSeconds: 4, pollSeconds: 0.5 }),
    await startTestWorker(database, dataDir(), { leaseSeconds: 4, pollSeconds: 0.5 }),
  ];
  people.admin = await createTestUser(database, 'admin', { isAdmin: true });
  people.dev = await createTestUser(database, 'dev');
  people.lead = await createTestUser(database, 'lead');
  svn = await SvnRepo.create(dir, { 'www/index.html': 'index 0\n', 'www/big.bin': randomBytes(1024).toString('hex') });
  sshd = await startSshd(dir);
}, 120_000);

afterAll(async () => {
  for (const worker of executors) await worker.stop();
  await replicaA?.close();
  await replicaB?.close();
  await sshd?.stop().catch(() => {});
  await database?.sql.end({ timeout: 5 });
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

const members = () => [
  { user: people.dev, role: 'DEVELOPER' as const },
  { user: people.lead, role: 'LEAD' as const },
];

async function approved(api: TestApi, projectId: string, files: Record<string, string>, repo = svn): Promise<string> {
  await repo.commit('change', files);
  const submitted = await ok(
    api,
    people.dev.token,
    'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
    {
      i: { projectId, reason: 'change', paths: Object.keys(files) },
    },
  );
  const id = submitted.submitTicket.id;
  await waitForState(api, people.dev.token, id, 'AWAITING_TEST', 60_000);
  await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
  await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
  return id;
}

async function deploy(api: TestApi, id: string, mutation = 'deployTicket') {
  await ok(api, people.dev.token, `mutation($id: ID!) { ${mutation}(id: $id) { id } }`, { id });
  return waitForState(api, people.dev.token, id, ['DEPLOYED', 'DEPLOY_FAILED'], 90_000);
}

function subscriber(api: TestApi) {
  return createClient({
    url: `${api.url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${people.lead.token}` },
    retryAttempts: 20,
    retryWait: () => new Promise((r) => setTimeout(r, 300)),
  });
}

/**
 * Restarts PostgreSQL, then waits until both replicas answer again. postgres.js does not retry: a pooled connection
 * the restart broke fails the one request that next uses it, then reconnects — so every pooled connection is used
 * once here before the test goes on.
 */
async function restartPostgres(): Promise<void> {
  await postgres.stop();
  postgres = await startEmbeddedPostgres(join(dir, 'pg'));
  for (const api of [replicaA, replicaB]) {
    let healthy = 0;
    while (healthy < 20) {
      const answer = await Promise.all(
        Array.from({ length: 8 }, () => api.gql('{ me { id } }', {}, { token: people.dev.token }).catch(() => null)),
      );
      healthy = answer.every((r) => r && !r.errors) ? healthy + 8 : 0;
    }
  }
  await database.sql`select 1`.catch(() => {});
}

async function hasPartialData(root: string): Promise<boolean> {
  const walk = async (path: string): Promise<boolean> => {
    for (const name of await readdir(path).catch(() => [] as string[])) {
      const info = await stat(join(path, name)).catch(() => null);
      if (info?.isDirectory() ? await walk(join(path, name)) : (info?.size ?? 0) > 0) return true;
    }
    return false;
  };
  return walk(root);
}

describe('two replicas, two executors, one database', () => {
  it('a subscriber on the replica that did not start the job sees its events and its output; PostgreSQL restarted while idle loses nothing', async () => {
    const projectId = await createReadyProject(replicaA, people.admin, {
      name: 'replicas',
      sourceUrl: svn.url,
      stagingPath: join(dir, 'staging-replicas'),
      targets: [{ name: 'web', path: join(dir, 'target-replicas') }],
      members: members(),
    });
    const client = subscriber(replicaB);
    const events: { action: string; ticket: { id: string } }[] = [];
    client.subscribe<{ ticketEvents: (typeof events)[number] }>(
      {
        query: `subscription { ticketEvents(projectId: "${projectId}", afterEventId: "0") { id action ticket { id } } }`,
      },
      { next: (m) => m.data && events.push(m.data.ticketEvents), error: () => {}, complete: () => {} },
    );
    const id = await approved(replicaA, projectId, { 'www/index.html': 'index 1\n' });
    await waitFor(
      async () => events.filter((e) => e.ticket.id === id).map((e) => e.action),
      (a) => a.includes('APPROVE'),
    );

    await ok(replicaA, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
    const jobId = (
      await waitFor(
        () => ok(replicaA, people.dev.token, 'query($id: ID!) { ticket(id: $id) { jobs { id kind } } }', { id }),
        (d) => d.ticket.jobs.some((j: { kind: string }) => j.kind === 'DEPLOY'),
      )
    ).ticket.jobs.find((j: { kind: string }) => j.kind === 'DEPLOY').id;
    const lines: { seq: number; text: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      client.subscribe<{ jobLog: { seq: number; text: string }[] }>(
        { query: `subscription { jobLog(jobId: "${jobId}") { seq text } }` },
        { next: (m) => lines.push(...(m.data?.jobLog ?? [])), error: reject, complete: resolve },
      );
    });
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i + 1));
    expect(lines.some((l) => l.text.includes('www/index.html'))).toBe(true);
    expect((await waitForState(replicaA, people.dev.token, id, ['DEPLOYED', 'DEPLOY_FAILED'])).state).toBe('DEPLOYED');

    // PostgreSQL restarts while nothing runs: the servers, the executors and the subscription all come back.
    await restartPostgres();
    const after = await waitFor(
      () =>
        replicaA
          .gql(
            'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
            { i: { projectId, reason: 'after restart', paths: ['www/big.bin'] } },
            { token: people.dev.token },
          )
          .catch(() => null),
      (r) => Boolean(r && !r.errors),
      30_000,
    );
    const next = (after?.data as { submitTicket: { id: string } } | undefined)?.submitTicket.id as string;
    await waitForState(replicaB, people.dev.token, next, 'AWAITING_TEST', 30_000);
    await waitFor(
      async () => events.filter((e) => e.ticket.id === next).map((e) => e.action),
      (a) => a.includes('STAGED'),
      30_000,
    );
    await ok(replicaB, people.dev.token, 'mutation($id: ID!) { cancelTicket(id: $id) { id } }', { id: next });
    await client.dispose();
  }, 180_000);
});

describe('PostgreSQL restarted in the middle of a deploy', () => {
  it('the deploy still ends DEPLOYED, once, with its target equal to the tag and its log whole', async () => {
    const target = join(dir, 'target-midjob');
    const projectId = await createReadyProject(replicaA, people.admin, {
      name: 'midjob',
      sourceUrl: svn.url,
      stagingPath: join(dir, 'staging-midjob'),
      settings: { bandwidthLimit: 512 },
      targets: [{ name: 'web', path: target }],
      members: members(),
    });
    const id = await approved(replicaA, projectId, { 'www/big.bin': randomBytes(1024 * 1024).toString('hex') });
    await ok(replicaA, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
    await waitFor(() => hasPartialData(target), Boolean, 60_000);
    await restartPostgres();
    const done = await waitFor(
      () =>
        replicaB
          .gql(
            'query($id: ID!) { ticket(id: $id) { state jobs { id kind state } release { tag } } }',
            { id },
            { token: people.dev.token },
          )
          .catch(() => null),
      (r) =>
        ['DEPLOYED', 'DEPLOY_FAILED'].includes((r?.data as { ticket?: { state: string } } | null)?.ticket?.state ?? ''),
      120_000,
    );
    type View = { ticket: { state: string; jobs: { id: string; kind: string }[]; release: { tag: string } } };
    const view = (done?.data as View | undefined)?.ticket as View['ticket'];
    expect(view.state).toBe('DEPLOYED');
    expect(view.jobs.filter((j) => j.kind === 'DEPLOY')).toHaveLength(1);
    const ledger = ledgerOf(dataDir(), projectId);
    expect(await snapshot(target)).toEqual(await tagSnapshot(ledger, view.release.tag));
    const { stdout: tags } = await execa('git', ['-C', ledger, 'tag', '--list']);
    expect(tags.split('\n')).toEqual(['v0', 'v1']);
    const log = await ok(replicaA, people.dev.token, 'query($j: ID!) { job(id: $j) { log { seq } } }', {
      j: view.jobs.find((j) => j.kind === 'DEPLOY')?.id,
    });
    expect(log.job.log.map((l: { seq: number }) => l.seq)).toEqual(log.job.log.map((_: unknown, i: number) => i + 1));
  }, 240_000);
});

describe('reads after PostgreSQL restarted', () => {
  /**
   * Opens every connection of the replicas' pool (they share it), so a restart leaves all of them broken. A
   * connection an earlier restart broke and nothing has used since fails its next query once and reconnects: a pass
   * may meet such ones, so a second pass opens the pool whole.
   */
  const fillPool = async () => {
    for (let pass = 0; pass < 2; pass++)
      await Promise.allSettled(Array.from({ length: 16 }, () => database.sql`select pg_sleep(0.05)`));
  };

  it('succeed on the first try, with every pooled connection broken; a mutation is never run twice', async () => {
    await fillPool();
    await postgres.stop();
    postgres = await startEmbeddedPostgres(join(dir, 'pg'));
    // Every pooled connection of both replicas was broken by the restart; nothing has used them since.
    for (let i = 0; i < 16; i++) {
      const api = i % 2 ? replicaB : replicaA;
      const read = await api.gql('{ me { login } projects { id } }', {}, { token: people.dev.token });
      expect(read.errors, JSON.stringify(read.errors)).toBeUndefined();
      expect(read.data).toMatchObject({ me: { login: 'dev' } });
    }
    await fillPool();
    await postgres.stop();
    postgres = await startEmbeddedPostgres(join(dir, 'pg'));
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        replicaA.gql(
          'mutation($n: String!) { createApiToken(name: $n) { token } }',
          { n: `after-restart-${i}` },
          {
            token: people.dev.token,
          },
        ),
      ),
    );
    // Read with a connection of its own (the test's pool was broken by the restart too).
    const fresh = pgClient(postgres.appUrl, { max: 1, onnotice: () => {} });
    const made = await fresh<{ name: string }[]>`
      select name from api_tokens where name like 'after-restart-%' order by name`.finally(() => fresh.end());
    // Each mutation ran at most once: an answer that failed is no token, never two.
    expect(new Set(made.map((r) => r.name)).size).toBe(made.length);
    expect(made.length).toBe(answers.filter((a) => !a.errors).length);
    for (const failed of answers.filter((a) => a.errors))
      expect(failed.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
  }, 120_000);
});

describe('targets that fail mid-transfer', () => {
  it('an ssh target whose connection drops: the target fails with the cause in the log, and the retry completes it', async () => {
    const target = join(dir, 'target-ssh-drop');
    const projectId = await createReadyProject(replicaA, people.admin, {
      name: 'ssh-drop',
      sourceUrl: svn.url,
      stagingPath: join(dir, 'staging-ssh-drop'),
      settings: { bandwidthLimit: 512, sshKeyPath: sshd.keyPath, knownHostsPath: sshd.knownHostsPath },
      targets: [{ name: 'remote', host: '127.0.0.1', port: sshd.port, user: sshd.user, path: target }],
      members: members(),
    });
    const id = await approved(replicaA, projectId, { 'www/big.bin': randomBytes(1024 * 1024).toString('hex') });
    await ok(replicaA, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
    await waitFor(() => hasPartialData(target), Boolean, 60_000);
    // The server and every session it serves go away, as when the host drops off the network.
    await sshd.drop();
    const failed = await waitForState(replicaA, people.dev.token, id, ['DEPLOYED', 'DEPLOY_FAILED'], 60_000);
    expect(failed.state, JSON.stringify(failed)).toBe('DEPLOY_FAILED');
    expect(failed.deployResults).toMatchObject([{ targetName: 'remote', outcome: 'FAILED' }]);
    expect(failed.deployResults[0]?.error).toMatch(/rsync failed|connection|closed/i);
    await sshd.restart();
    const retried = await deploy(replicaA, id, 'retryDeploy');
    expect(retried.state).toBe('DEPLOYED');
    expect(await snapshot(target)).toEqual(await tagSnapshot(ledgerOf(dataDir(), projectId), 'v1'));
  }, 240_000);

  it('a full disk on a target: the target fails with "No space left on device" and keeps serving the old version', async () => {
    const mountpoint = join(dir, 'tiny');
    await mkdir(mountpoint, { recursive: true });
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountpoint]);
    try {
      const target = join(mountpoint, 'site');
      await mkdir(join(dir, 'small-repo'), { recursive: true });
      const small = await SvnRepo.create(join(dir, 'small-repo'), { 'www/index.html': 'small\n' });
      const projectId = await createReadyProject(replicaA, people.admin, {
        name: 'full-disk',
        sourceUrl: small.url,
        stagingPath: join(dir, 'staging-full'),
        targets: [{ name: 'tiny', path: target }],
        members: members(),
      });
      const fits = await deploy(replicaA, await approved(replicaA, projectId, { 'www/index.html': 'fits\n' }, small));
      expect(fits.state).toBe('DEPLOYED');
      const before = await snapshot(target);
      const id = await approved(
        replicaA,
        projectId,
        { 'www/big.bin': randomBytes(1536 * 1024).toString('hex') },
        small,
      );
      const failed = await deploy(replicaA, id);
      expect(failed.state).toBe('DEPLOY_FAILED');
      const log = await ok(replicaA, people.dev.token, 'query($j: ID!) { job(id: $j) { log { text } } }', {
        j: failed.jobs.at(-1)?.id,
      });
      expect(log.job.log.some((l: { text: string }) => /No space left on device/.test(l.text))).toBe(true);
      // --delay-updates: nothing of the failed version was put in place.
      const now = await snapshot(target);
      expect(now['www/index.html']).toBe(before['www/index.html']);
      expect(await readFile(join(target, 'www/index.html'), 'utf8')).toBe('fits\n');
    } finally {
      await execa('umount', ['-l', mountpoint], { reject: false });
    }
  }, 180_000);
});

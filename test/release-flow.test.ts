import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { execa } from 'execa';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestUser, startTestApi, type TestApi, type TestUser } from './support/api.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, ticket, waitFor, waitForState } from './support/flow.ts';
import { createReadyProject, ledgerOf } from './support/project.ts';
import { type Sshd, startSshd } from './support/sshd.ts';
import { SvnRepo } from './support/svn.ts';
import { snapshot, tagSnapshot } from './support/tree.ts';

let dir: string;
let database: TestDatabase;
let api: TestApi;
let worker: Worker;
let sshd: Sshd;
let svn: SvnRepo;
let projectId: string;
const people = {} as Record<'admin' | 'dev' | 'dev2' | 'tester' | 'lead', TestUser>;

const ledger = () => ledgerOf(join(dir, 'data'), projectId);
const localTarget = () => join(dir, 'targets', 'local');
const remoteTarget = () => join(dir, 'targets', 'remote');

const SUBMIT = 'mutation($input: SubmitTicketInput!) { submitTicket(input: $input) { id state } }';

async function submit(user: TestUser, reason: string, paths: string[]): Promise<string> {
  const data = await ok(api, user.token, SUBMIT, { input: { projectId, reason, paths } });
  return data.submitTicket.id;
}

const act = (user: TestUser, mutation: string, id: string, extra = '') =>
  ok(api, user.token, `mutation($id: ID!) { ${mutation}(id: $id${extra}) { id state } }`, { id });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-flow-'));
  await chmod(dir, 0o755);
  database = await createTestDatabase();
  api = await startTestApi(database);
  people.admin = await createTestUser(database, 'admin', { isAdmin: true });
  for (const name of ['dev', 'dev2', 'tester', 'lead'] as const) people[name] = await createTestUser(database, name);
  svn = await SvnRepo.create(dir, {
    'www/index.html': '<h1>v0</h1>\n',
    'www/a.txt': 'a0\n',
    'www/b.txt': 'b0\n',
    'www/c.txt': 'c0\n',
    'www/sub/d.txt': 'd0\n',
    'www/debug.log': 'local log, excluded\n',
  });
  sshd = await startSshd(dir);
  worker = await startTestWorker(database, join(dir, 'data'));

  projectId = await createReadyProject(api, people.admin, {
    name: 'site',
    sourceUrl: svn.url,
    stagingPath: join(dir, 'staging'),
    settings: {
      stagingUrl: 'http://staging.example.test',
      excludes: ['*.log'],
      sshKeyPath: sshd.keyPath,
      knownHostsPath: sshd.knownHostsPath,
    },
    targets: [
      { name: 'local', path: localTarget() },
      { name: 'remote', host: '127.0.0.1', port: sshd.port, user: sshd.user, path: remoteTarget() },
    ],
    members: [
      { user: people.dev, role: 'DEVELOPER' },
      { user: people.dev2, role: 'DEVELOPER' },
      { user: people.tester, role: 'TESTER' },
      { user: people.lead, role: 'LEAD' },
    ],
  });
  const live = await ok(api, people.admin.token, 'query($id: ID!) { project(id: $id) { liveRelease { tag } } }', {
    id: projectId,
  });
  expect(live.project.liveRelease).toEqual({ tag: 'v0' });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await sshd?.stop();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

async function expectTargetsAt(tag: string) {
  const expected = await tagSnapshot(ledger(), tag);
  const withoutExcluded = Object.fromEntries(Object.entries(expected).filter(([p]) => !p.endsWith('.log')));
  expect(await snapshot(localTarget())).toEqual(withoutExcluded);
  expect(await snapshot(remoteTarget())).toEqual(withoutExcluded);
}

describe('a release ticket, end to end', () => {
  it('walks submit → staged → returned → resubmitted → staged → passed → approved → deployed, then v2, then a rollback to v1', async () => {
    const { dev, tester, lead } = people;
    await svn.commit('change a', { 'www/a.txt': 'a1\n' });
    const t1 = await submit(dev, 'Ship the new a.txt', ['www/a.txt']);
    await waitForState(api, dev.token, t1, 'AWAITING_TEST');

    await act(tester, 'returnTicket', t1, ', comment: "a.txt still says a1, we want a2"');
    await svn.commit('fix a', { 'www/a.txt': 'a2\n' });
    await act(dev, 'resubmitTicket', t1);
    const staged = await waitForState(api, dev.token, t1, 'AWAITING_TEST');
    expect(staged.availableActions.sort()).toEqual(['CANCEL', 'PASS_TEST', 'RETURN']);

    await act(tester, 'passTest', t1, ', comment: "works on staging"');
    expect((await ticket(api, lead.token, t1)).availableActions).toContain('APPROVE');
    await act(lead, 'approveTicket', t1, ', comment: "go"');
    await act(dev, 'deployTicket', t1);
    const deployed = await waitForState(api, dev.token, t1, ['DEPLOYED', 'DEPLOY_FAILED']);
    expect(deployed.state, JSON.stringify(deployed.jobs)).toBe('DEPLOYED');
    expect(deployed.release).toEqual({ tag: 'v1' });
    expect(deployed.events.map((e) => [e.action, e.from, e.to])).toEqual([
      ['SUBMIT', null, 'PENDING_STAGING'],
      ['STAGED', 'PENDING_STAGING', 'AWAITING_TEST'],
      ['RETURN', 'AWAITING_TEST', 'RETURNED'],
      ['RESUBMIT', 'RETURNED', 'PENDING_STAGING'],
      ['STAGED', 'PENDING_STAGING', 'AWAITING_TEST'],
      ['PASS_TEST', 'AWAITING_TEST', 'AWAITING_APPROVAL'],
      ['APPROVE', 'AWAITING_APPROVAL', 'APPROVED'],
      ['DEPLOY', 'APPROVED', 'DEPLOYING'],
      ['DEPLOYED', 'DEPLOYING', 'DEPLOYED'],
    ]);
    expect(deployed.deployResults.map((r) => [r.targetName, r.outcome])).toEqual([
      ['local', 'OK'],
      ['remote', 'OK'],
    ]);
    await expectTargetsAt('v1');
    expect(await readFile(join(localTarget(), 'www/a.txt'), 'utf8')).toBe('a2\n');
    expect(await readFile(join(remoteTarget(), 'www/b.txt'), 'utf8')).toBe('b0\n');

    // A third ticket is staged but never approved: v2 must not carry its change.
    await svn.commit('b and c', { 'www/b.txt': 'b1\n', 'www/c.txt': 'c1 unapproved\n', 'www/sub/e.txt': 'new e\n' });
    const t3 = await submit(people.dev2, 'c, not ready', ['www/c.txt']);
    await waitForState(api, dev.token, t3, 'AWAITING_TEST');
    const t2 = await submit(dev, 'b and a new file', ['www/b.txt', 'www/sub/e.txt']);
    await waitForState(api, dev.token, t2, 'AWAITING_TEST');
    await act(tester, 'passTest', t2);
    await act(lead, 'approveTicket', t2);
    await act(lead, 'deployTicket', t2);
    expect((await waitForState(api, dev.token, t2, ['DEPLOYED', 'DEPLOY_FAILED'])).state).toBe('DEPLOYED');
    await expectTargetsAt('v2');
    expect(await readFile(join(localTarget(), 'www/b.txt'), 'utf8')).toBe('b1\n');
    expect(await readFile(join(remoteTarget(), 'www/sub/e.txt'), 'utf8')).toBe('new e\n');
    expect(await readFile(join(remoteTarget(), 'www/c.txt'), 'utf8')).toBe('c0\n');
    for (const target of [localTarget(), remoteTarget()]) {
      const names = Object.keys(await snapshot(target));
      expect(names.some((n) => n.includes('.svn') || n.includes('.git') || n.endsWith('.log'))).toBe(false);
    }

    // Roll back to v1.
    const releases = await ok(api, dev.token, 'query($p: ID!) { releases(projectId: $p) { id tag live } }', {
      p: projectId,
    });
    expect(releases.releases.map((r: { tag: string; live: boolean }) => [r.tag, r.live])).toEqual([
      ['v2', true],
      ['v1', false],
      ['v0', false],
    ]);
    const v1 = releases.releases.find((r: { tag: string }) => r.tag === 'v1');
    const rollback = await ok(
      api,
      dev.token,
      'mutation($r: ID!) { requestRollback(releaseId: $r, reason: "v2 broke b") { id state kind } }',
      {
        r: v1.id,
      },
    );
    const r1 = rollback.requestRollback.id;
    expect(rollback.requestRollback).toMatchObject({ state: 'AWAITING_APPROVAL', kind: 'ROLLBACK' });
    await act(lead, 'approveTicket', r1);
    await act(dev, 'deployTicket', r1);
    const rolledBack = await waitForState(api, dev.token, r1, ['DEPLOYED', 'DEPLOY_FAILED']);
    expect(rolledBack.state).toBe('DEPLOYED');
    expect(rolledBack.release).toEqual({ tag: 'v1' });
    await expectTargetsAt('v1');
    const { stdout: tags } = await execa('git', ['-C', ledger(), 'tag', '--list']);
    expect(tags.split('\n').sort()).toEqual(['v0', 'v1', 'v2']);
    const live = await ok(api, dev.token, 'query($p: ID!) { project(id: $p) { liveRelease { tag } } }', {
      p: projectId,
    });
    expect(live.project.liveRelease.tag).toBe('v1');
    await act(people.dev2, 'cancelTicket', t3);
  }, 120_000);

  it('refuses a path held by an open ticket, and paths outside the working copy', async () => {
    const t = await submit(people.dev, 'holds index', ['www/index.html']);
    const locked = await api.gql(
      SUBMIT,
      { input: { projectId, reason: 'r', paths: ['www'] } },
      { token: people.dev2.token },
    );
    expect(locked.errors?.[0]?.extensions).toMatchObject({ code: 'PATH_LOCKED', heldBy: Number(t) });
    expect(locked.errors?.[0]?.message).toMatch(new RegExp(`held by ticket #${t}`));
    for (const bad of ['/etc/passwd', '../x', '-rf', 'www/\u0001', 'www/.svn']) {
      const refused = await api.gql(
        SUBMIT,
        { input: { projectId, reason: 'r', paths: [bad] } },
        { token: people.dev2.token },
      );
      expect(refused.errors?.[0]?.extensions?.code, bad).toBe('BAD_USER_INPUT');
    }
    await waitForState(api, people.dev.token, t, 'AWAITING_TEST');
    await act(people.dev, 'cancelTicket', t);
  });

  it('refuses to deploy what changed in staging after it was tested (rule 4)', async () => {
    const t = await submit(people.dev, 'sub/d', ['www/sub/d.txt']);
    await waitForState(api, people.dev.token, t, 'AWAITING_TEST');
    await act(people.tester, 'passTest', t);
    await act(people.lead, 'approveTicket', t);
    await writeFile(join(dir, 'staging', 'www/sub/d.txt'), 'edited on the staging server by hand\n');
    await act(people.dev, 'deployTicket', t);
    const returned = await waitForState(api, people.dev.token, t, ['RETURNED', 'DEPLOYED']);
    expect(returned.state).toBe('RETURNED');
    expect(returned.events.at(-1)).toMatchObject({
      action: 'STAGING_CHANGED',
      comment: expect.stringMatching(/^STAGING_CHANGED/),
    });
    await expectTargetsAt('v1');
    await act(people.dev, 'cancelTicket', t);
  });
});

describe('concurrency', () => {
  it('20 concurrent approvals and then 20 concurrent deploys give exactly one transition each', async () => {
    const t = await submit(people.dev, 'index', ['www/index.html']);
    await waitForState(api, people.dev.token, t, 'AWAITING_TEST');
    await act(people.tester, 'passTest', t);
    const approvals = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.gql('mutation($id: ID!) { approveTicket(id: $id) { state } }', { id: t }, { token: people.lead.token }),
      ),
    );
    expect(approvals.filter((r) => !r.errors)).toHaveLength(1);
    expect(new Set(approvals.flatMap((r) => r.errors?.map((e) => e.extensions?.code) ?? []))).toEqual(
      new Set(['INVALID_TRANSITION']),
    );
    const deploys = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api.gql(
          'mutation($id: ID!) { deployTicket(id: $id) { state } }',
          { id: t },
          { token: (i % 2 ? people.lead : people.dev).token },
        ),
      ),
    );
    expect(deploys.filter((r) => !r.errors)).toHaveLength(1);
    const view = await waitForState(api, people.dev.token, t, ['DEPLOYED', 'DEPLOY_FAILED']);
    expect(view.events.filter((e) => e.action === 'APPROVE')).toHaveLength(1);
    expect(view.events.filter((e) => e.action === 'DEPLOY')).toHaveLength(1);
    expect(view.jobs.filter((j) => j.kind === 'DEPLOY')).toHaveLength(1);
  });
});

describe('live output', () => {
  it('streams the deploy log over graphql-ws; a client that reconnects with afterSeq misses nothing and repeats nothing', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 300; i++) many[`www/many/f${i}.txt`] = `file ${i}\n`;
    await svn.commit('many files', many);
    const t = await submit(people.dev, 'many files', ['www/many']);
    await waitForState(api, people.dev.token, t, 'AWAITING_TEST');
    await act(people.tester, 'passTest', t);
    await act(people.lead, 'approveTicket', t);

    const client = createClient({
      url: `${api.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${people.lead.token}` },
      retryAttempts: 0,
    });
    const LOG = 'subscription($j: ID!, $a: Int) { jobLog(jobId: $j, afterSeq: $a) { seq stream text } }';
    type Line = { seq: number; stream: string; text: string };
    await act(people.dev, 'deployTicket', t);
    const deployJob = (
      await waitFor(
        () => ticket(api, people.dev.token, t),
        (v) => v.jobs.some((j) => j.kind === 'DEPLOY'),
      )
    ).jobs.find((j) => j.kind === 'DEPLOY')?.id as string;

    // First connection: take a few batches, then drop.
    const first: Line[] = [];
    await new Promise<void>((resolve, reject) => {
      const dispose = client.subscribe<{ jobLog: Line[] }>(
        { query: LOG, variables: { j: deployJob, a: 0 } },
        {
          next: (message) => {
            first.push(...(message.data?.jobLog ?? []));
            if (first.length >= 5) {
              dispose();
              resolve();
            }
          },
          error: reject,
          complete: resolve,
        },
      );
    });
    // Second connection resumes after the last line seen, to the end of the job.
    const rest: Line[] = [];
    await new Promise<void>((resolve, reject) => {
      client.subscribe<{ jobLog: Line[] }>(
        { query: LOG, variables: { j: deployJob, a: first.at(-1)?.seq } },
        {
          next: (message) => rest.push(...(message.data?.jobLog ?? [])),
          error: reject,
          complete: resolve,
        },
      );
    });
    await client.dispose();
    const all = [...first, ...rest];
    expect(all.map((l) => l.seq)).toEqual(all.map((_, i) => i + 1));
    const stored = await ok(api, people.dev.token, 'query($j: ID!) { job(id: $j) { state log { seq text } } }', {
      j: deployJob,
    });
    expect(stored.job.state).toBe('SUCCEEDED');
    expect(all.map((l) => l.text)).toEqual(stored.job.log.map((l: Line) => l.text));
    // rsync's itemized lines: one per new file, the first 200 of each of the two targets, then a count.
    const itemized = all.filter((l) => l.stream === 'STDOUT' && /^([<>ch.][fdLDS]\S{9} |\*deleting )/.test(l.text));
    expect(itemized.length).toBe(400);
    expect(itemized.filter((l) => /^[<>]f\S* www\/many\/f\d+\.txt$/.test(l.text)).length).toBeGreaterThan(380);
    expect(all.filter((l) => /^… \d+ more line\(s\) like these not shown$/.test(l.text))).toHaveLength(2);
  });

  it('tells ticketEvents subscribers of every transition, and jobUpdated subscribers of every job state', async () => {
    const client = createClient({
      url: `${api.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${people.tester.token}` },
      retryAttempts: 0,
    });
    await svn.commit('index again', { 'www/index.html': '<h1>v-next</h1>\n' });
    const t = await submit(people.dev, 'index again', ['www/index.html']);
    const events: { id: string; action: string; to: string; ticket: { id: string } }[] = [];
    // From event 0: the project's whole history, then live; a client resumes with the last id it has.
    const unsubscribe = client.subscribe<{ ticketEvents: (typeof events)[number] }>(
      {
        query:
          'subscription($p: ID!) { ticketEvents(projectId: $p, afterEventId: "0") { id action to ticket { id } } }',
        variables: { p: projectId },
      },
      { next: (m) => m.data && events.push(m.data.ticketEvents), error: () => {}, complete: () => {} },
    );
    await waitFor(
      async () => events.filter((e) => e.ticket.id === t).map((e) => e.action),
      (actions) => actions.includes('STAGED'),
    );
    expect(events.filter((e) => e.ticket.id === t).map((e) => [e.action, e.to])).toEqual([
      ['SUBMIT', 'PENDING_STAGING'],
      ['STAGED', 'AWAITING_TEST'],
    ]);
    expect(events.map((e) => Number(e.id))).toEqual([...events.map((e) => Number(e.id))].sort((a, b) => a - b));
    unsubscribe();

    await act(people.tester, 'passTest', t);
    await act(people.lead, 'approveTicket', t);
    await act(people.dev, 'deployTicket', t);
    const jobId = (await ticket(api, people.dev.token, t)).jobs.find((j) => j.kind === 'DEPLOY')?.id;
    const states: string[] = [];
    await new Promise<void>((resolve, reject) => {
      client.subscribe<{ jobUpdated: { state: string } }>(
        { query: 'subscription($j: ID!) { jobUpdated(jobId: $j) { state } }', variables: { j: jobId } },
        { next: (m) => m.data && states.push(m.data.jobUpdated.state), error: reject, complete: resolve },
      );
    });
    expect(states.at(-1)).toBe('SUCCEEDED');
    expect(new Set(states).size).toBe(states.length);
    await client.dispose();
  });
});

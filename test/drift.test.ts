import { chmod, mkdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { firstEnvironment, freePort, jobLogLines, jobs, releases, targets } from '@slipway/schema';
import { and, asc, eq, sql } from 'drizzle-orm';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from './support/api.ts';
import { artifactsDir, launchBrowser, signedIn } from './support/browser.ts';
import type { TestDatabase } from './support/db.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, type TicketView, ticket, waitFor, waitForState } from './support/flow.ts';
import { GitRepo } from './support/git.ts';
import { createReadyProject } from './support/project.ts';
import { type SshFleet, startSshFleet } from './support/sshd.ts';
import { exactSnapshot } from './support/tree.ts';
import { createWorld, type World } from './support/world.ts';

type Login = 'dev' | 'lead' | 'lead2';
let world: World<Login>;
let dir: string;
let database: TestDatabase;
let api: TestApi;
let worker: Worker;
let fleet: SshFleet;
let people: World<Login>['people'];
const dataDir = () => join(dir, 'data');

beforeAll(async () => {
  world = await createWorld('drift', ['dev', 'lead', 'lead2']);
  ({ dir, database, api, people } = world);
  fleet = await startSshFleet(dir, 8);
  worker = await startTestWorker(database, dataDir(), { sshControlDir: join(dir, 'control') });
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await fleet?.stop();
  await world?.close();
});

const members = () => [
  { user: people.dev, role: 'DEVELOPER' as const },
  { user: people.lead, role: 'LEAD' as const },
  { user: people.lead2, role: 'LEAD' as const },
];

const sshSettings = () => ({ sshKeyPath: fleet.keyPath, knownHostsPath: fleet.knownHostsPath });

async function ship(projectId: string, paths: string[]): Promise<TicketView> {
  const submitted = await ok(
    api,
    people.dev.token,
    'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
    { i: { projectId, reason: `ship ${paths.join(', ')}`, paths } },
  );
  const id: string = submitted.submitTicket.id;
  const staged = await waitForState(api, people.dev.token, id, ['AWAITING_TEST', 'STAGING_FAILED']);
  expect(staged.state, JSON.stringify(staged.events)).toBe('AWAITING_TEST');
  await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
  await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
  await ok(api, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
  const done = await waitForState(api, people.dev.token, id, ['DEPLOYED', 'DEPLOY_FAILED', 'RETURNED'], 120_000);
  expect(done.state, JSON.stringify(done.jobs)).toBe('DEPLOYED');
  return done;
}

async function logOfJob(jobId: number | string): Promise<string[]> {
  const lines = await database.db
    .select({ text: jobLogLines.text })
    .from(jobLogLines)
    .where(eq(jobLogLines.jobId, Number(jobId)))
    .orderBy(asc(jobLogLines.seq));
  return lines.map((l) => l.text);
}

const VERIFICATIONS = `query($id: ID!) { project(id: $id) { targets { id name verification {
  state driftedCount error currentRelease checkedAt release { tag } drifted { path change diff } } } } }`;

interface TargetVerificationView {
  id: string;
  name: string;
  verification: {
    state: string;
    driftedCount: number;
    error: string | null;
    currentRelease: string | null;
    checkedAt: string | null;
    release: { tag: string } | null;
    drifted: { path: string; change: string; diff: string | null }[];
  };
}

async function verifications(projectId: string): Promise<Record<string, TargetVerificationView>> {
  const data = await ok(api, people.lead.token, VERIFICATIONS, { id: projectId });
  return Object.fromEntries(
    (data.project.targets as TargetVerificationView[]).map((t) => [t.name, t] as [string, TargetVerificationView]),
  );
}

/** Starts a VERIFY job through the API and waits for it; answers the job's id. */
async function verifyNow(projectId: string): Promise<string> {
  const started = await ok(api, people.lead.token, 'mutation($p: ID!) { verifyTargets(projectId: $p) { id kind } }', {
    p: projectId,
  });
  expect(started.verifyTargets.kind).toBe('VERIFY');
  const id = started.verifyTargets.id as string;
  await waitFor(
    () =>
      database.db
        .select()
        .from(jobs)
        .where(eq(jobs.id, Number(id))),
    ([job]) => job?.state === 'SUCCEEDED' || job?.state === 'FAILED',
    60_000,
  );
  const [job] = await database.db
    .select()
    .from(jobs)
    .where(eq(jobs.id, Number(id)));
  expect(job?.state, job?.lastError ?? '').toBe('SUCCEEDED');
  return id;
}

/** A full rsync of a tag of the project's ledger into an empty directory, as a snapshot. */
async function fullSyncOfTag(projectId: string, tag: string): Promise<Record<string, string>> {
  const tree = join(dir, 'tag-trees', `${projectId}-${tag}`);
  await rm(tree, { recursive: true, force: true });
  await mkdir(tree, { recursive: true });
  await execa('git', [
    '-C',
    join(dataDir(), 'projects', projectId, 'ledger'),
    'worktree',
    'add',
    '--detach',
    tree,
    tag,
  ]);
  const fresh = `${tree}-synced`;
  await rm(fresh, { recursive: true, force: true });
  await execa('rsync', ['-a', '--exclude=.git', `${tree}/`, `${fresh}/`]);
  await execa('git', ['-C', join(dataDir(), 'projects', projectId, 'ledger'), 'worktree', 'remove', '--force', tree]);
  return exactSnapshot(fresh);
}

const INITIAL = {
  'www/index.html': '<h1>index 1</h1>\n',
  'www/a.txt': 'a\n',
  'www/dir/b.txt': 'b\n',
  'www/keep.txt': 'keep\n',
  'www/script.sh': '#!/bin/sh\necho hi\n',
};

/** A webhook receiver on 127.0.0.1: the JSON bodies it was sent. */
async function startReceiver() {
  const bodies: { event: string; drift?: { target?: { name: string }; drifted?: { path: string }[] } }[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      bodies.push(JSON.parse(body));
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { bodies, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, server };
}

describe.each(['IN_PLACE', 'ATOMIC'] as const)('drift (%s)', (mode) => {
  let repo: GitRepo;
  let projectId: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  afterAll(() => receiver?.server.close());
  const name = `drift-${mode.toLowerCase()}`;
  const first = mode === 'IN_PLACE' ? 0 : 4;
  const targetPath = (i: number) => join(dir, 'targets', name, `t${i}`);
  const served = (i: number) => join(targetPath(i), ...(mode === 'ATOMIC' ? ['current'] : []));

  beforeAll(async () => {
    await mkdir(join(dir, name), { recursive: true });
    repo = await GitRepo.create(join(dir, name), 'main', INITIAL);
    projectId = await createReadyProject(api, people.admin, {
      name,
      sourceType: 'GIT',
      sourceUrl: repo.url,
      stagingPath: join(dir, `staging-${name}`),
      settings: { deployMode: mode, excludes: ['cache/'], verifyIntervalMinutes: 0, ...sshSettings() },
      targets: Array.from({ length: 3 }, (_, i) => ({
        name: `t${i}`,
        host: fleet.addresses[first + i] as string,
        port: fleet.port,
        user: fleet.user,
        path: targetPath(i),
      })),
      members: members(),
    });
    receiver = await startReceiver();
    await ok(api, people.admin.token, 'mutation($p: ID!, $u: String!) { addWebhook(projectId: $p, url: $u) { id } }', {
      p: projectId,
      u: receiver.url,
    });
    await repo.commit('v1', { 'www/index.html': '<h1>index 1b</h1>\n' });
    await ship(projectId, ['www']);
    await repo.commit('v2', { 'www/index.html': '<h1>index 2</h1>\n<p>second</p>\n' });
    await ship(projectId, ['www']);
  }, 240_000);

  it('finds each kind of drift exactly, never an excluded path, and an unreachable target without failing the others', async () => {
    const clean = await verifyNow(projectId);
    const before = await verifications(projectId);
    expect(Object.values(before).map((t) => [t.name, t.verification.state, t.verification.release?.tag])).toEqual([
      ['t0', 'IN_SYNC', 'v2'],
      ['t1', 'IN_SYNC', 'v2'],
      ['t2', 'IN_SYNC', 'v2'],
    ]);
    expect(await logOfJob(clean)).toContainEqual(expect.stringMatching(/3 in sync, 0 drifted, 0 unreachable/));

    // t0: content and mode; t1: deleted, added, a file replaced by a directory; excluded files on both.
    await writeFile(join(served(0), 'www/index.html'), '<h1>index 2</h1>\n<p>edited by hand</p>\n');
    await chmod(join(served(0), 'www/script.sh'), 0o700);
    await rm(join(served(1), 'www/dir/b.txt'));
    await writeFile(join(served(1), 'www/hotfix.php'), '<?php // copied by scp\n');
    await rm(join(served(1), 'www/keep.txt'));
    await mkdir(join(served(1), 'www/keep.txt'));
    await writeFile(join(served(1), 'www/keep.txt/inside'), 'x\n');
    for (const i of [0, 1]) {
      await mkdir(join(served(i), 'www/cache'), { recursive: true });
      await writeFile(join(served(i), 'www/cache/session'), 'excluded\n');
    }
    // t2: atomic, `current` points at the release before; in place, a binary file changed in size and content.
    if (mode === 'ATOMIC') {
      await rm(join(targetPath(2), 'current'));
      await symlink('releases/v1', join(targetPath(2), 'current'));
    } else {
      await writeFile(join(served(2), 'www/a.txt'), Buffer.from([0, 1, 2, 3]));
    }
    // A fourth target nobody answers for, recorded on the live release.
    const closedPort = await freePort();
    const [live] = await database.db
      .select({ id: releases.id })
      .from(releases)
      .where(and(eq(releases.projectId, Number(projectId)), eq(releases.number, 2)));
    const environment = await firstEnvironment(database.db, Number(projectId));
    await database.db.insert(targets).values({
      projectId: Number(projectId),
      environmentId: environment.id,
      name: 'z-gone',
      host: '127.0.0.1',
      port: closedPort,
      user: fleet.user,
      path: targetPath(9),
      releaseId: live?.id,
    });

    const jobId = await verifyNow(projectId);
    const found = await verifications(projectId);
    const paths = (t: string) => found[t]?.verification.drifted.map((d) => [d.path, d.change]);
    expect(found.t0?.verification.state).toBe('DRIFTED');
    expect(paths('t0')).toEqual([
      ['www/index.html', 'MODIFIED'],
      ['www/script.sh', 'MODIFIED'],
    ]);
    const diff = found.t0?.verification.drifted[0]?.diff ?? '';
    expect(diff).toContain('-<p>second</p>');
    expect(diff).toContain('+<p>edited by hand</p>');
    expect(found.t0?.verification.drifted[1]?.diff).toBeNull();
    expect(found.t1?.verification.state).toBe('DRIFTED');
    expect(paths('t1')).toEqual([
      ['www/dir/b.txt', 'DELETED'],
      ['www/hotfix.php', 'ADDED'],
      ['www/keep.txt', 'MODIFIED'],
      ['www/keep.txt/inside', 'ADDED'],
    ]);
    expect(found.t1?.verification.driftedCount).toBe(4);
    expect(found.t2?.verification.state).toBe('DRIFTED');
    if (mode === 'ATOMIC') {
      expect(found.t2?.verification.currentRelease).toBe('v1');
      expect(found.t2?.verification.error).toMatch(/current points at v1, not v2/);
      expect(paths('t2')).toEqual([['www/index.html', 'MODIFIED']]);
    } else {
      expect(paths('t2')).toEqual([['www/a.txt', 'MODIFIED']]);
      expect(found.t2?.verification.drifted[0]?.diff).toBeNull();
    }
    expect(found['z-gone']?.verification.state).toBe('UNREACHABLE');
    expect(found['z-gone']?.verification.error).toMatch(/connect|refused/i);
    expect(await logOfJob(jobId)).toContainEqual(expect.stringMatching(/0 in sync, 3 drifted, 1 unreachable/));

    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toContain(`slipway_target_drift_files{project="${name}",target="t1"} 4`);
    expect(metrics).toContain(`slipway_target_drift_files{project="${name}",target="t0"} 2`);
    expect(metrics).toMatch(
      new RegExp(`slipway_target_verified_timestamp_seconds\\{project="${name}",target="t0"\\} \\d+`),
    );
    await database.db.delete(targets).where(eq(targets.name, 'z-gone'));
    // Each target that started drifting was told once to the project's webhooks (a later check that finds the same
    // drift is not news).
    const detected = () => receiver.bodies.filter((b) => b.event === 'DRIFT_DETECTED');
    await waitFor(
      async () => detected().length,
      (n) => n >= 3,
    );
    expect(
      detected()
        .map((b) => b.drift?.target?.name)
        .sort(),
    ).toEqual(['t0', 't1', 't2']);
    expect(
      detected()
        .find((b) => b.drift?.target?.name === 't1')
        ?.drift?.drifted?.map((d) => d.path),
    ).toContain('www/hotfix.php');
  }, 120_000);

  it.runIf(mode === 'IN_PLACE')(
    'shows the drift in the console: a badge, the files, the diff, in both languages',
    async () => {
      const browser = await launchBrowser();
      try {
        for (const locale of ['en', 'zh-CN'] as const) {
          const lead = await signedIn(browser, api.url, 'lead', people.lead.password, { locale });
          await lead.page.goto(`${api.url}/#/`);
          await expect.poll(() => lead.page.textContent('[data-testid=drift-badge]')).toMatch(/3/);
          await lead.page.click('[data-testid=drift-badge]');
          await lead.page.waitForSelector('[data-testid=target-row]');
          // Verifying again from the console answers the same.
          await lead.page.click('[data-testid=verify]');
          await expect.poll(() => lead.page.isDisabled('[data-testid=verify]'), { timeout: 30_000 }).toBe(false);
          const states = await lead.page.locator('[data-testid=verification-state]').allTextContents();
          expect(states).toHaveLength(3);
          expect(states.map((s) => Number(/\d+/.exec(s)?.[0]))).toEqual([2, 4, 1]);
          const files = await lead.page.locator('[data-testid=drift-files]').allTextContents();
          expect(files.join('\n')).toContain('www/hotfix.php');
          expect(files.join('\n')).toContain('+<p>edited by hand</p>');
          await lead.page.screenshot({ path: join(artifactsDir, `drift-${locale}.png`), fullPage: true });
          expect(lead.errors).toEqual([]);
          await lead.context.close();
        }
      } finally {
        await browser.close();
      }
    },
    60_000,
  );

  it('repairs the drifted targets after approval, byte for byte, and the next verification is IN_SYNC', async () => {
    const found = await verifications(projectId);
    const drifted = Object.values(found).filter((t) => t.verification.state === 'DRIFTED');
    expect(drifted.map((t) => t.name)).toEqual(['t0', 't1', 't2']);
    const request =
      'mutation($p: ID!, $t: [ID!]!, $r: String!) { requestRepair(projectId: $p, targetIds: $t, reason: $r) { id kind state repairTargets { name } } }';
    const ids = drifted.map((t) => t.id);
    const byDev = await api.gql(request, { p: projectId, t: ids, r: 'hand edits' }, { token: people.dev.token });
    expect(byDev.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const noReason = await api.gql(request, { p: projectId, t: ids, r: '  ' }, { token: people.lead.token });
    expect(noReason.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'reason' });
    const repair = (await ok(api, people.lead.token, request, { p: projectId, t: ids, r: 'undo hand edits' }))
      .requestRepair;
    expect(repair).toMatchObject({ kind: 'REPAIR', state: 'AWAITING_APPROVAL' });
    expect(repair.repairTargets.map((t: { name: string }) => t.name)).toEqual(['t0', 't1', 't2']);
    // Approved like a rollback: not by the lead who asked.
    const self = await api.gql(
      'mutation($id: ID!) { approveTicket(id: $id) { id } }',
      { id: repair.id },
      {
        token: people.lead.token,
      },
    );
    expect(self.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await ok(api, people.lead2.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id: repair.id });
    // The file added by hand on t1 was put there by no release: the repair deletes it only when asked to.
    const refused = await api.gql(
      'mutation($id: ID!) { deployTicket(id: $id) { id } }',
      { id: repair.id },
      { token: people.lead.token },
    );
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: 'UNKNOWN_FILES',
      targets: [{ name: 't1', count: 1, paths: ['www/hotfix.php'] }],
    });
    expect((await ticket(api, people.lead.token, repair.id)).state).toBe('APPROVED');
    expect(await readFile(join(served(1), 'www/hotfix.php'), 'utf8')).toBeTruthy();
    await ok(api, people.lead.token, 'mutation($id: ID!) { deployTicket(id: $id, deleteUnknown: true) { id } }', {
      id: repair.id,
    });
    const done = await waitForState(api, people.lead.token, repair.id, ['DEPLOYED', 'DEPLOY_FAILED'], 120_000);
    expect(done.state, JSON.stringify(done.jobs)).toBe('DEPLOYED');
    expect(done.jobs.map((j) => j.kind).filter((k) => k !== 'WEBHOOK')).toEqual(['PREVIEW', 'REPAIR']);
    expect(done.events.map((e) => e.action)).toEqual(['REQUEST_REPAIR', 'APPROVE', 'DEPLOY', 'DEPLOYED']);
    expect(done.events.at(-1)?.comment).toBe('v2 restored on t0, t1, t2');

    const expected = await fullSyncOfTag(projectId, 'v2');
    for (const i of [0, 1, 2]) {
      const on = await exactSnapshot(served(i));
      // Excluded paths are the target's own: the repair leaves them.
      if (i < 2) expect(await readFile(join(served(i), 'www/cache/session'), 'utf8')).toBe('excluded\n');
      const kept = Object.fromEntries(Object.entries(on).filter(([p]) => !p.startsWith('www/cache')));
      expect(kept, `t${i}`).toEqual(expected);
    }
    if (mode === 'ATOMIC') {
      const { stdout } = await execa('readlink', [join(targetPath(2), 'current')]);
      expect(stdout).toBe('releases/v2');
    }
    // The repair verified what it left; so does the next verification.
    const after = await verifications(projectId);
    expect(Object.values(after).map((t) => t.verification.state)).toEqual(['IN_SYNC', 'IN_SYNC', 'IN_SYNC']);
    await verifyNow(projectId);
    const again = await verifications(projectId);
    expect(Object.values(again).map((t) => t.verification.state)).toEqual(['IN_SYNC', 'IN_SYNC', 'IN_SYNC']);
    const resolved = () => receiver.bodies.filter((b) => b.event === 'DRIFT_RESOLVED');
    await waitFor(
      async () => resolved().length,
      (n) => n >= 3,
    );
    expect(
      resolved()
        .map((b) => b.drift?.target?.name)
        .sort(),
    ).toEqual(['t0', 't1', 't2']);
  }, 180_000);

  it('verifies before a deploy when asked: a drifted target gets a full sync by checksum, the others changed files', async () => {
    await ok(
      api,
      people.admin.token,
      'mutation($id: ID!) { updateProject(id: $id, input: { verifyBeforeDeploy: true }) { id } }',
      {
        id: projectId,
      },
    );
    // Same size, same time: only a checksum tells.
    const file = join(served(0), 'www/a.txt');
    const { mtime } = await stat(file);
    await writeFile(file, 'A\n');
    await utimes(file, mtime, mtime);
    await repo.commit('v3', { 'www/dir/b.txt': 'b 3\n' });
    const shipped = await ship(projectId, ['www']);
    const log = await logOfJob(shipped.jobs.find((j) => j.kind === 'DEPLOY')?.id as string);
    expect(log).toContainEqual(expect.stringMatching(/t0: full sync \(it has drifted from v2 \(1 path\(s\) differ/));
    expect(log).toContainEqual(expect.stringMatching(/t1: verified: it holds v2 exactly/));
    expect(log).toContainEqual(expect.stringMatching(/t1: changed files only, from v2/));
    const expected = await fullSyncOfTag(projectId, 'v3');
    for (const i of [0, 1, 2]) {
      const on = Object.fromEntries(
        Object.entries(await exactSnapshot(served(i))).filter(([p]) => !p.startsWith('www/cache')),
      );
      expect(on, `t${i}`).toEqual(expected);
    }
    await ok(
      api,
      people.admin.token,
      'mutation($id: ID!) { updateProject(id: $id, input: { verifyBeforeDeploy: false }) { id } }',
      {
        id: projectId,
      },
    );
  }, 180_000);
});

describe('scheduled verification', () => {
  it('runs when due, also after an executor restart, and never overlaps a deploy of the project', async () => {
    const name = 'drift-scheduled';
    await mkdir(join(dir, name), { recursive: true });
    const repo = await GitRepo.create(join(dir, name), 'main', INITIAL);
    const projectId = await createReadyProject(api, people.admin, {
      name,
      sourceType: 'GIT',
      sourceUrl: repo.url,
      stagingPath: join(dir, `staging-${name}`),
      settings: { verifyIntervalMinutes: 1, ...sshSettings() },
      targets: [
        {
          name: 't0',
          host: fleet.addresses[7] as string,
          port: fleet.port,
          user: fleet.user,
          path: join(dir, 'targets', name),
        },
      ],
      members: members(),
    });
    const pid = Number(projectId);
    // A verification asked for while a deploy runs waits for it (one job of a project at a time).
    const submitted = await ok(
      api,
      people.dev.token,
      'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
      {
        i: { projectId, reason: 'first', paths: ['www'] },
      },
    );
    const id = submitted.submitTicket.id;
    await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
    await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    await ok(api, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
    const asked = await ok(api, people.lead.token, 'mutation($p: ID!) { verifyTargets(projectId: $p) { id } }', {
      p: projectId,
    });
    await waitForState(api, people.dev.token, id, 'DEPLOYED', 120_000);
    const verifyJobs = () =>
      database.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.projectId, pid), eq(jobs.kind, 'VERIFY')))
        .orderBy(asc(jobs.id));
    await waitFor(verifyJobs, (rows) => rows.every((r) => r.state === 'SUCCEEDED') && rows.length === 1, 60_000);
    const [deployJob] = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.projectId, pid), eq(jobs.kind, 'DEPLOY')));
    const [manual] = await verifyJobs();
    expect(manual?.id).toBe(Number(asked.verifyTargets.id));
    expect(Number(manual?.startedAt)).toBeGreaterThanOrEqual(Number(deployJob?.finishedAt));

    // Nothing is due within the interval; once it has passed (as if the executor had been down), one is queued.
    await worker.stop();
    await database.db.update(jobs).set({ createdAt: sql`now() - interval '2 minutes'` }).where(eq(jobs.projectId, pid));
    worker = await startTestWorker(database, dataDir(), { sshControlDir: join(dir, 'control') });
    const scheduled = await waitFor(verifyJobs, (rows) => rows.length === 2 && rows[1]?.state === 'SUCCEEDED', 30_000);
    expect(scheduled[1]?.payload).toEqual({ scheduled: true });
    const view = await verifications(projectId);
    expect(view.t0?.verification.state).toBe('IN_SYNC');
    // Still one per interval: no second scheduled job right after.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await verifyJobs()).toHaveLength(2);
  }, 240_000);
});

import { chmod, mkdir, readdir, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { jobLogLines, jobs, targets } from '@slipway/schema';
import { and, asc, eq } from 'drizzle-orm';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from './support/api.ts';
import type { TestDatabase } from './support/db.ts';
import { spawnExecutor, startTestWorker } from './support/executor.ts';
import { approvedRollback, ok, type TicketView, ticket, waitFor, waitForState } from './support/flow.ts';
import { GitRepo } from './support/git.ts';
import { createReadyProject } from './support/project.ts';
import { type SshFleet, startSshFleet } from './support/sshd.ts';
import { exactSnapshot } from './support/tree.ts';
import { createWorld, type World } from './support/world.ts';

let world: World<'dev' | 'lead'>;
let dir: string;
let database: TestDatabase;
let api: TestApi;
let worker: Worker;
let fleet: SshFleet;
let people: World<'dev' | 'lead'>['people'];
const dataDir = () => join(dir, 'data');

beforeAll(async () => {
  world = await createWorld('transport', ['dev', 'lead']);
  ({ dir, database, api, people } = world);
  fleet = await startSshFleet(dir, 6);
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
];

/** Files a ticket on `paths`, takes it through test and approval, and deploys it. */
async function ship(projectId: string, paths: string[], deployArgs = ''): Promise<TicketView> {
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
  await ok(api, people.dev.token, `mutation($id: ID!) { deployTicket(id: $id${deployArgs}) { id } }`, { id });
  const done = await waitForState(api, people.dev.token, id, ['DEPLOYED', 'DEPLOY_FAILED', 'RETURNED'], 120_000);
  if (done.state === 'RETURNED') throw new Error(`returned: ${JSON.stringify(done.events.at(-1))}`);
  return done;
}

const RESULTS = `query($id: ID!) { ticket(id: $id) { deployResults { targetName outcome transfer bytesSent error
  changes { path change } changesCount } } }`;
async function resultsOf(id: string) {
  return (await ok(api, people.dev.token, RESULTS, { id })).ticket.deployResults as {
    targetName: string;
    outcome: string;
    transfer: string | null;
    bytesSent: number;
    error: string | null;
    changes: { path: string; change: string }[] | null;
    changesCount: number | null;
  }[];
}

/**
 * An entry of `releases/` that background work is not done with: a spare copy's part, a pruned copy being deleted, or
 * a copier's claim (removed just after its spare gets its name).
 */
const underWay = (name: string) => name.includes('.part.') || name.endsWith('.pruned') || name.includes('.spare.pid');

async function logOf(view: TicketView): Promise<string[]> {
  const jobId = Number(view.jobs.at(-1)?.id);
  const lines = await database.db
    .select({ text: jobLogLines.text })
    .from(jobLogLines)
    .where(eq(jobLogLines.jobId, jobId))
    .orderBy(asc(jobLogLines.seq));
  return lines.map((l) => l.text);
}

/** What a full rsync of the release tree (checked out at the tag the job shipped) into an empty directory makes. */
async function fullSyncOfTag(projectId: string, name: string): Promise<Record<string, string>> {
  const fresh = join(dir, 'full-sync', name);
  await rm(fresh, { recursive: true, force: true });
  await mkdir(fresh, { recursive: true });
  await execa('rsync', ['-a', '--exclude=.git', `${join(dataDir(), 'projects', projectId, 'release')}/`, `${fresh}/`]);
  return exactSnapshot(fresh);
}

function sshTargets(name: string, count: number, first = 0) {
  return Array.from({ length: count }, (_, i) => ({
    name: `t${i}`,
    host: fleet.addresses[first + i] as string,
    port: fleet.port,
    user: fleet.user,
    path: join(dir, 'targets', name, `t${i}`),
  }));
}

const sshSettings = () => ({ sshKeyPath: fleet.keyPath, knownHostsPath: fleet.knownHostsPath });

/** A git repository of its own and a ready project on it. */
async function gitProject(
  name: string,
  files: Record<string, string>,
  settings: Record<string, unknown>,
  targets: Parameters<typeof createReadyProject>[2]['targets'],
) {
  await mkdir(join(dir, name), { recursive: true });
  const repo = await GitRepo.create(join(dir, name), 'main', files);
  const projectId = await createReadyProject(api, people.admin, {
    name,
    sourceType: 'GIT',
    sourceUrl: repo.url,
    stagingPath: join(dir, `staging-${name}`),
    settings,
    targets,
    members: members(),
  });
  return { repo, projectId };
}

/** Every kind of change a release can make, in one commit. */
async function everyKindOfChange(repo: GitRepo) {
  const at = (path: string) => join(repo.clone, path);
  await rm(at('www/dir'), { recursive: true });
  await rm(at('www/file-to-dir'));
  await mkdir(at('www/file-to-dir'));
  await writeFile(at('www/file-to-dir/inside.txt'), 'now a directory\n');
  await rm(at('www/dir-to-file'), { recursive: true });
  await writeFile(at('www/dir-to-file'), 'now a file\n');
  await rm(at('www/link'));
  await symlink('new-target.txt', at('www/link'));
  await chmod(at('www/script.sh'), 0o755);
  await mkdir(at('www/deep/er'), { recursive: true });
  await writeFile(at('www/deep/er/added.txt'), 'added\n');
  await repo.commit('every kind of change', {
    'www/index.html': 'index 2\n',
    'www/a.txt': null,
    'www/new-target.txt': 'the link points here now\n',
  });
}

const INITIAL = {
  'www/index.html': 'index 1\n',
  'www/a.txt': 'a\n',
  'www/dir/b.txt': 'b\n',
  'www/dir/sub/c.txt': 'c\n',
  'www/script.sh': '#!/bin/sh\necho hi\n',
  'www/file-to-dir': 'a file for now\n',
  'www/dir-to-file/x.txt': 'x\n',
  'www/keep/k.txt': 'k\n',
};

describe.each(['IN_PLACE', 'ATOMIC'] as const)('changed files only (%s)', (mode) => {
  let repo: GitRepo;
  let projectId: string;
  const name = `every-change-${mode.toLowerCase()}`;
  const first = mode === 'IN_PLACE' ? 0 : 2;
  const served = (i: number, version: string) =>
    join(dir, 'targets', name, `t${i}`, ...(mode === 'ATOMIC' ? ['releases', version] : []));

  beforeAll(async () => {
    ({ repo, projectId } = await gitProject(
      name,
      INITIAL,
      { deployMode: mode, ...sshSettings() },
      sshTargets(name, 2, first),
    ));
    // The first deploy takes the link along.
    await symlink('index.html', join(repo.clone, 'www/link'));
    await repo.commit('a link', {});
  }, 60_000);

  it('sends only what changed and ends byte for byte equal to a full sync: contents, modes, links, deletions', async () => {
    // The first deploy: the targets' version is unknown, so everything goes.
    await repo.commit('first', { 'www/index.html': 'index 1b\n' });
    const firstDeploy = await ship(projectId, ['www']);
    expect(firstDeploy.state, JSON.stringify(firstDeploy.jobs)).toBe('DEPLOYED');
    expect((await resultsOf(firstDeploy.id)).map((r) => r.transfer)).toEqual(['FULL', 'FULL']);
    const firstLog = await logOf(firstDeploy);
    expect(firstLog).toContainEqual(expect.stringMatching(/t0: full sync \(its version is not known/));
    // Every file of v1 went to a path that held none of it: the ledger lists the change (every file added). A release
    // this small still has rsync itemize its files for the log (a big one does not: itemizeFirstCopy).
    const ledger = join(dataDir(), 'projects', projectId, 'ledger');
    const shipped = (await execa('git', ['-C', ledger, 'ls-tree', '-r', '--name-only', 'v1'])).stdout.split('\n');
    expect(shipped).toContain('www/link');
    for (const result of await resultsOf(firstDeploy.id)) {
      expect(result.changes?.map((c) => c.path).sort()).toEqual([...shipped].sort());
      expect(new Set(result.changes?.map((c) => c.change))).toEqual(new Set(['ADDED']));
    }
    expect(firstLog).toContainEqual(expect.stringMatching(/^[<>]f\+{9} www\/index\.html$/));

    if (mode === 'ATOMIC') {
      // After its switch each target makes a spare link copy of v1 in the background: t0 starts the next release
      // from it, t1 (its spare taken away) links every file while the deploy waits. Both must end the same.
      const spare = (i: number) => join(dir, 'targets', name, `t${i}`, 'releases', '.v1.spare');
      await waitFor(
        () =>
          Promise.all(
            [0, 1].map((i) =>
              stat(spare(i)).then(
                () => true,
                () => false,
              ),
            ),
          ),
        (ready) => ready.every(Boolean),
      );
      await rm(spare(1), { recursive: true });
    }
    const connectionsBefore = await fleet.connections();
    await everyKindOfChange(repo);
    const second = await ship(projectId, ['www']);
    expect(second.state, JSON.stringify(second.jobs)).toBe('DEPLOYED');
    const results = await resultsOf(second.id);
    const expectedChanges = [
      { path: 'www/a.txt', change: 'DELETED' },
      { path: 'www/deep/er/added.txt', change: 'ADDED' },
      { path: 'www/dir-to-file', change: 'ADDED' },
      { path: 'www/dir-to-file/x.txt', change: 'DELETED' },
      { path: 'www/dir/b.txt', change: 'DELETED' },
      { path: 'www/dir/sub/c.txt', change: 'DELETED' },
      { path: 'www/file-to-dir', change: 'DELETED' },
      { path: 'www/file-to-dir/inside.txt', change: 'ADDED' },
      { path: 'www/index.html', change: 'MODIFIED' },
      { path: 'www/link', change: 'MODIFIED' },
      { path: 'www/new-target.txt', change: 'ADDED' },
      { path: 'www/script.sh', change: 'MODIFIED' },
    ];
    for (const result of results) {
      expect(result).toMatchObject({ outcome: 'OK', transfer: 'INCREMENTAL', changesCount: expectedChanges.length });
      expect(result.changes).toEqual(expectedChanges);
      // The changed files and rsync's short file list: far from the whole tree.
      expect(result.bytesSent).toBeLessThan(2000);
    }
    const log = await logOf(second);
    expect(log).toContainEqual(
      expect.stringMatching(/t0: changed files only, from v1 \(4 added, 3 modified, 5 deleted/),
    );
    const expected = await fullSyncOfTag(projectId, name);
    for (const i of [0, 1]) expect(await exactSnapshot(served(i, 'v2'))).toEqual(expected);
    if (mode === 'ATOMIC') {
      // Unchanged files of the new release are hard links to the old one's.
      for (const i of [0, 1]) {
        const [kept, base] = await Promise.all(
          [served(i, 'v2'), served(i, 'v1')].map((root) => stat(join(root, 'www/keep/k.txt'))),
        );
        expect(kept?.ino).toBe(base?.ino);
      }
      // The spare of v1 became v2; a spare of v2 follows, and nothing half-made is left (the copier removes its claim,
      // `.v2.spare.pid`, just after the spare gets its name: waited for too).
      const releasesDir = join(dir, 'targets', name, 't0', 'releases');
      const names = await waitFor(
        () => readdir(releasesDir),
        (list) => list.includes('.v2.spare') && !list.some(underWay),
      );
      expect(names.sort()).toEqual(['.v2.spare', 'v1', 'v2']);
    }
    // One ssh connection per target for the whole job.
    const connectionsAfter = await fleet.connections();
    for (const target of sshTargets(name, 2, first)) {
      expect((connectionsAfter.get(target.host) ?? 0) - (connectionsBefore.get(target.host) ?? 0)).toBe(1);
    }
  }, 120_000);

  it('falls back to a full sync for a target whose version is not known, and ends equal to the tag', async () => {
    const [t1] = await database.db
      .update(targets)
      .set({ releaseId: null })
      .where(and(eq(targets.projectId, Number(projectId)), eq(targets.name, 't1')))
      .returning();
    expect(t1).toBeTruthy();
    await repo.commit('third', { 'www/index.html': 'index 3\n' });
    const third = await ship(projectId, ['www/index.html']);
    expect(third.state).toBe('DEPLOYED');
    expect((await resultsOf(third.id)).map((r) => [r.targetName, r.transfer])).toEqual([
      ['t0', 'INCREMENTAL'],
      ['t1', 'FULL'],
    ]);
    expect(await logOf(third)).toContainEqual(expect.stringMatching(/t1: full sync \(its version is not known/));
    const expected = await fullSyncOfTag(projectId, name);
    for (const i of [0, 1]) expect(await exactSnapshot(served(i, 'v3'))).toEqual(expected);
  }, 60_000);

  it('sends every file when asked (deployTicket fullSync), and says so', async () => {
    await repo.commit('fourth', { 'www/index.html': 'index 4\n' });
    const fourth = await ship(projectId, ['www/index.html'], ', fullSync: true');
    expect(fourth.state).toBe('DEPLOYED');
    expect((await resultsOf(fourth.id)).map((r) => r.transfer)).toEqual(['FULL', 'FULL']);
    expect(await logOf(fourth)).toContainEqual(expect.stringMatching(/t0: full sync \(a full sync was asked for\)/));
    const expected = await fullSyncOfTag(projectId, name);
    for (const i of [0, 1]) expect(await exactSnapshot(served(i, 'v4'))).toEqual(expected);
  }, 60_000);

  if (mode === 'ATOMIC') {
    it('falls back to a full sync when the base release directory is gone from the target', async () => {
      await rm(served(0, 'v4'), { recursive: true, force: true });
      // current → releases/v4 is dangling on t0 now; the next release cannot be linked from v4 there.
      await repo.commit('fifth', { 'www/index.html': 'index 5\n' });
      const fifth = await ship(projectId, ['www/index.html']);
      expect(fifth.state, JSON.stringify(fifth.jobs)).toBe('DEPLOYED');
      expect((await resultsOf(fifth.id)).map((r) => [r.targetName, r.transfer])).toEqual([
        ['t0', 'FULL'],
        ['t1', 'INCREMENTAL'],
      ]);
      expect(await logOf(fifth)).toContainEqual(
        expect.stringMatching(/t0: full sync \(releases\/v4 is not on the target\)/),
      );
      const expected = await fullSyncOfTag(projectId, name);
      for (const i of [0, 1]) expect(await exactSnapshot(served(i, 'v5'))).toEqual(expected);
    }, 60_000);

    it('rolls back with one remote command per target, over one connection, copying nothing', async () => {
      const before = await fleet.connections();
      const releases = await ok(api, people.dev.token, 'query($p: ID!) { releases(projectId: $p) { id tag } }', {
        p: projectId,
      });
      const v3 = releases.releases.find((r: { tag: string }) => r.tag === 'v3');
      const id = await approvedRollback(api, people.dev.token, people.lead.token, v3.id, 'back');
      await ok(api, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
      const done = await waitForState(api, people.dev.token, id, ['DEPLOYED', 'DEPLOY_FAILED']);
      const log = await logOf(done);
      expect(done.state, log.join('\n')).toBe('DEPLOYED');
      expect(log.filter((l) => /^\$ t\d: switch current to v3/.test(l))).toHaveLength(2);
      expect(log.some((l) => l.startsWith('$ rsync'))).toBe(false);
      const after = await fleet.connections();
      for (const target of sshTargets(name, 2, first))
        expect((after.get(target.host) ?? 0) - (before.get(target.host) ?? 0)).toBe(1);
    }, 60_000);

    it('takes over a spare copy still being made (deploys back to back), unless the release changed since it began', async () => {
      // Live is v3 (the rollback above); each target makes its spare of v3 in the background. Here both are caught
      // mid-copy instead: a part holding some of v3's links, its copier still running (a stand-in whose command line
      // names the part, as cp's does), and the claim saying so.
      const root = (i: number) => join(dir, 'targets', name, `t${i}`);
      await waitFor(
        () => Promise.all([0, 1].map((i) => readdir(join(root(i), 'releases')))),
        (lists) => lists.every((l) => l.includes('.v3.spare') && !l.some(underWay)),
      );
      const part = 'releases/.v3.spare.part.4242';
      const copiers = await Promise.all(
        [0, 1].map(async (i) => {
          await rm(join(root(i), 'releases/.v3.spare'), { recursive: true });
          await mkdir(join(root(i), part, 'www'), { recursive: true });
          await execa('cp', ['-al', 'releases/v3/www/keep', `${part}/www/keep`], { cwd: root(i) });
          const copier = execa(process.execPath, ['-e', 'setTimeout(() => {}, 300_000)', part], {
            cwd: root(i),
            reject: false,
          });
          await writeFile(join(root(i), 'releases/.v3.spare.pid'), `${copier.pid} ${part}\n`);
          return { copier };
        }),
      );
      // On t1 the application wrote into the live release after that copy began: its part is stale, and stays.
      const past = new Date(Date.now() - 3_600_000);
      await utimes(join(root(1), 'releases/.v3.spare.pid'), past, past);
      await writeFile(join(root(1), 'releases/v3/www/written-by-the-app.txt'), 'upload\n');
      await repo.commit('sixth', { 'www/index.html': 'index 6\n' });
      const sixth = await ship(projectId, ['www/index.html']);
      expect(sixth.state, (await logOf(sixth)).join('\n')).toBe('DEPLOYED');
      const live = (i: number) => readlink(join(root(i), 'current'));
      const version = (await live(0)).replace('releases/', '');
      expect(await live(1)).toBe(`releases/${version}`);
      // t0's copier was stopped and its part became the release, completed; t1's was left running (its part went
      // with the switch, as a spare of a release no longer live).
      const [t0, t1] = copiers as [(typeof copiers)[0], (typeof copiers)[0]];
      expect((await t0.copier).isTerminated).toBe(true);
      expect(t1.copier.exitCode).toBeNull();
      t1.copier.kill();
      const expected = await fullSyncOfTag(projectId, name);
      expect(await exactSnapshot(served(0, version))).toEqual(expected);
      expect(await exactSnapshot(served(1, version))).toEqual({
        ...expected,
        'www/written-by-the-app.txt': expect.stringMatching(/^file /),
      });
      for (const i of [0, 1]) {
        const [kept, base] = await Promise.all(
          [served(i, version), served(i, 'v3')].map((r) => stat(join(r, 'www/keep/k.txt'))),
        );
        expect(kept?.ino).toBe(base?.ino);
      }
    }, 60_000);
  }
});

describe('pruning', () => {
  it('keeps the newest keepReleases releases (and the one replaced), deleting the others in the background', async () => {
    const name = 'pruned';
    const { repo, projectId } = await gitProject(
      name,
      { 'www/index.html': 'v0\n' },
      { deployMode: 'ATOMIC', keepReleases: 2 },
      [{ name: 'web', path: join(dir, 'targets', name) }],
    );
    for (let i = 1; i <= 4; i++) {
      await repo.commit(`release ${i}`, { 'www/index.html': `v${i}\n` });
      expect((await ship(projectId, ['www/index.html'])).state).toBe('DEPLOYED');
    }
    const releasesDir = join(dir, 'targets', name, 'releases');
    await waitFor(
      () => readdir(releasesDir),
      (names) => names.includes('.v4.spare') && !names.some(underWay),
    );
    // The spare link copy of the live release stays (the next deploy starts from it); older spares are pruned.
    expect((await readdir(releasesDir)).sort()).toEqual(['.v4.spare', 'v3', 'v4']);
  }, 60_000);
});

describe('a preview', () => {
  it('lists exactly what the deploy then changes, target by target (changed files and full sync alike)', async () => {
    const name = 'preview';
    const { repo, projectId } = await gitProject(name, INITIAL, sshSettings(), [
      ...sshTargets(name, 1, 4),
      { name: 'local', path: join(dir, 'targets', name, 'local') },
    ]);
    await symlink('index.html', join(repo.clone, 'www/link'));
    await repo.commit('a link', {});
    await repo.commit('first', { 'www/index.html': 'first\n' });
    expect((await ship(projectId, ['www'])).state).toBe('DEPLOYED');
    // The local target is edited by hand: a full sync sees it, a changed-files deploy does not touch it.
    await writeFile(join(dir, 'targets', name, 'local', 'www/keep/k.txt'), 'edited by hand\n');
    await database.db
      .update(targets)
      .set({ releaseId: null })
      .where(and(eq(targets.projectId, Number(projectId)), eq(targets.name, 'local')));
    await everyKindOfChange(repo);
    const submitted = await ok(
      api,
      people.dev.token,
      'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
      { i: { projectId, reason: 'preview me', paths: ['www'] } },
    );
    const id = submitted.submitTicket.id;
    await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
    await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    const asked = await ok(api, people.dev.token, 'mutation($id: ID!) { previewDeploy(id: $id) { id } }', { id });
    const preview = await waitFor(
      () =>
        ok(
          api,
          people.dev.token,
          'query($j: ID!) { job(id: $j) { state preview { targetName transfer error items { path change } } } }',
          { j: asked.previewDeploy.id },
        ),
      (d) => d.job.state === 'SUCCEEDED' || d.job.state === 'FAILED',
    );
    expect(
      preview.job.preview.map((p: { targetName: string; transfer: string }) => [p.targetName, p.transfer]),
    ).toEqual([
      ['local', 'FULL'],
      ['t0', 'INCREMENTAL'],
    ]);
    // The local target's version is unknown: what it deletes there is unknown to Slipway too, deleted when asked.
    await ok(api, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id, deleteUnknown: true) { id } }', { id });
    const deployed = await waitForState(api, people.dev.token, id, ['DEPLOYED', 'DEPLOY_FAILED']);
    expect(deployed.state).toBe('DEPLOYED');
    const byPath = (items: { path: string; change: string }[]) =>
      items.map(({ path, change }) => ({ path, change })).sort((a, b) => a.path.localeCompare(b.path));
    for (const result of await resultsOf(id)) {
      const previewed = preview.job.preview.find((p: { targetName: string }) => p.targetName === result.targetName);
      expect(previewed.error).toBeNull();
      expect(byPath(result.changes ?? []), result.targetName).toEqual(byPath(previewed.items));
    }
    const local = preview.job.preview.find((p: { targetName: string }) => p.targetName === 'local');
    expect(local.items).toContainEqual({ path: 'www/keep/k.txt', change: 'MODIFIED' });
    expect(local.items.some((i: { path: string }) => i.path.includes('link'))).toBe(true);
  }, 120_000);
});

describe('connections that fail', () => {
  let proxy: Server;
  let refusals = 0;

  beforeAll(async () => {
    // Stands in front of one fleet address: the first connections are cut at once, as an sshd past MaxStartups does.
    proxy = createServer((client: Socket) => {
      if (refusals > 0) {
        refusals--;
        client.destroy();
        return;
      }
      const upstream = tcpConnect(fleet.port, fleet.addresses[5] as string);
      client.pipe(upstream).pipe(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  });

  afterAll(() => new Promise<void>((resolve) => proxy.close(() => resolve())));

  it('retries a connection the server cut, and the deploy succeeds; a refused key fails at once and says why', async () => {
    const port = (proxy.address() as AddressInfo).port;
    // The proxy's address needs the fleet's host key in known_hosts.
    const known = join(dir, 'proxy-known-hosts');
    const hostKey = (
      await execa('ssh-keyscan', ['-p', String(fleet.port), '-t', 'ed25519', fleet.addresses[5] as string])
    ).stdout
      .split('\n')
      .find((l) => l.includes('ssh-ed25519'))
      ?.split(' ')
      .slice(1)
      .join(' ');
    await writeFile(known, `[127.0.0.1]:${port} ${hostKey}\n`);
    const name = 'flaky';
    const { repo, projectId } = await gitProject(
      name,
      { 'www/index.html': 'one\n' },
      { sshKeyPath: fleet.keyPath, knownHostsPath: known },
      [{ name: 'web', host: '127.0.0.1', port, user: fleet.user, path: join(dir, 'targets', name) }],
    );
    // The first deploy (and the look for unknown files before it) over good connections; then two are cut.
    await repo.commit('two', { 'www/index.html': 'two\n' });
    expect((await ship(projectId, ['www/index.html'])).state).toBe('DEPLOYED');
    refusals = 2;
    await repo.commit('two and a half', { 'www/index.html': 'two and a half\n' });
    const retried = await ship(projectId, ['www/index.html']);
    expect(retried.state, JSON.stringify(retried.jobs)).toBe('DEPLOYED');
    const log = await logOf(retried);
    expect(log.filter((l) => /retrying in \d+ ms/.test(l))).toHaveLength(2);
    expect(log).toContainEqual(expect.stringMatching(/web: ssh connection open \(attempt 3\)/));

    // A key the server does not accept: no retry, the cause in plain words.
    const wrongKey = join(dir, 'wrong_key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey]);
    await ok(
      api,
      people.admin.token,
      'mutation($p: ID!, $k: String!) { updateProject(id: $p, input: { sshKeyPath: $k }) { id } }',
      {
        p: projectId,
        k: wrongKey,
      },
    );
    await repo.commit('three', { 'www/index.html': 'three\n' });
    const refused = await ship(projectId, ['www/index.html']);
    expect(refused.state).toBe('DEPLOY_FAILED');
    const [result] = await resultsOf(refused.id);
    expect(result?.error).toMatch(
      /web \(.*127\.0\.0\.1:\d+\): the server refused the ssh key; not retried: .*Permission denied/,
    );
    expect((await logOf(refused)).some((l) => /retrying/.test(l))).toBe(false);
  }, 120_000);
});

describe('the ssh control directory', () => {
  it('is removed, with the connections left open in it, by the next executor after one was killed', async () => {
    const control = join(dir, 'control-kill');
    const name = 'killed';
    await mkdir(join(dir, name), { recursive: true });
    const repo = await GitRepo.create(join(dir, name), 'main', { 'www/index.html': 'one\n' });
    const doomedData = join(dir, 'data-killed');
    const doomed = spawnExecutor({
      DATABASE_URL: database.url,
      SLIPWAY_DATA_DIR: doomedData,
      SLIPWAY_EXECUTOR_POOL: 'doomed',
      SLIPWAY_SSH_CONTROL_DIR: control,
      SLIPWAY_FAULT_AT: 'atomic:uploaded',
    });
    try {
      const projectId = await createReadyProject(api, people.admin, {
        name,
        sourceType: 'GIT',
        sourceUrl: repo.url,
        stagingPath: join(dir, `staging-${name}`),
        settings: { deployMode: 'ATOMIC', pool: 'doomed', ...sshSettings() },
        targets: sshTargets(name, 1, 3),
        members: members(),
      });
      await repo.commit('two', { 'www/index.html': 'two\n' });
      const submitted = await ok(
        api,
        people.dev.token,
        'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
        { i: { projectId, reason: 'killed', paths: ['www/index.html'] } },
      );
      const id = submitted.submitTicket.id;
      await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
      await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
      await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
      await ok(api, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
      expect((await doomed).signal).toBe('SIGKILL');
      const left = (await readdir(control)).filter((n) => n.startsWith('slipway-ssh-'));
      expect(left).toHaveLength(1);
      const sockets = (await readdir(join(control, left[0] as string))).filter((n) => !n.endsWith('.log'));
      expect(sockets.length).toBeGreaterThan(0);
      const socket = join(control, left[0] as string, sockets[0] as string);
      const check = () =>
        execa('ssh', ['-o', `ControlPath=${socket}`, '-O', 'check', 'x'], { reject: false }).then((r) => r.exitCode);
      expect(await check()).toBe(0);

      const rescuer = await startTestWorker(database, doomedData, {
        pool: 'doomed',
        leaseSeconds: 3,
        sshControlDir: control,
      });
      try {
        expect((await readdir(control)).filter((n) => n === left[0])).toEqual([]);
        expect(await check()).not.toBe(0);
        const done = await waitForState(api, people.dev.token, id, ['DEPLOYED', 'DEPLOY_FAILED'], 60_000);
        expect(done.state).toBe('DEPLOYED');
      } finally {
        await rescuer.stop();
      }
      // A stopped executor leaves nothing behind either.
      expect((await readdir(control)).filter((n) => n.startsWith('slipway-ssh-'))).toEqual([]);
    } finally {
      if (doomed.exitCode === null && doomed.signalCode === null) process.kill(-(doomed.pid as number), 'SIGKILL');
    }
  }, 120_000);
});

describe('deliveries and hooks', () => {
  let hung: HttpServer;

  beforeAll(async () => {
    // Accepts every delivery and never answers.
    hung = createHttpServer(() => {});
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  });

  afterAll(() => {
    hung.closeAllConnections();
    return new Promise<void>((resolve) => hung.close(() => resolve()));
  });

  it('a receiver that never answers does not hold a deploy in the queue; a local hook streams line by line', async () => {
    const name = 'hung-hooks';
    const { repo, projectId } = await gitProject(
      name,
      { 'www/index.html': 'one\n' },
      { postDeploy: 'echo first line; sleep 1; echo second line' },
      [{ name: 'web', path: join(dir, 'targets', name) }],
    );
    await ok(api, people.admin.token, 'mutation($p: ID!, $u: String!) { addWebhook(projectId: $p, url: $u) { id } }', {
      p: projectId,
      u: `http://127.0.0.1:${(hung.address() as AddressInfo).port}/hook`,
    });
    await repo.commit('two', { 'www/index.html': 'two\n' });
    // Submitting, staging, passing and approving make deliveries enough to fill the delivery slots for a while.
    const view = await ship(projectId, ['www/index.html']);
    expect(view.state).toBe('DEPLOYED');
    const deployJob = view.jobs.find((j) => j.kind === 'DEPLOY');
    const [row] = await database.db
      .select()
      .from(jobs)
      .where(eq(jobs.id, Number(deployJob?.id)));
    const waited = (row?.startedAt?.getTime() ?? 0) - (row?.createdAt.getTime() ?? 0);
    expect(waited).toBeLessThan(1000);
    const pendingDeliveries = (await ticket(api, people.dev.token, view.id)).jobs.filter(
      (j) => j.kind === 'WEBHOOK' && j.state !== 'SUCCEEDED',
    );
    expect(pendingDeliveries.length).toBeGreaterThan(0);

    const lines = await database.db
      .select()
      .from(jobLogLines)
      .where(eq(jobLogLines.jobId, Number(deployJob?.id)))
      .orderBy(asc(jobLogLines.seq));
    const firstLine = lines.find((l) => l.text === 'first line');
    const secondLine = lines.find((l) => l.text === 'second line');
    expect(firstLine?.stream).toBe('STDOUT');
    // Stored as it was printed, a second before the next line: not all at once when the hook ended.
    expect((secondLine?.at.getTime() ?? 0) - (firstLine?.at.getTime() ?? 0)).toBeGreaterThan(700);
  }, 60_000);
});

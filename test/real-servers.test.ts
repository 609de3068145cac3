import { lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Worker } from '@slipway/executor';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from './support/api.ts';
import { artifactsDir, launchBrowser, signedIn } from './support/browser.ts';
import { startTestWorker } from './support/executor.ts';
import { approvedRollback, ok, type TicketView, ticket, waitFor, waitForState } from './support/flow.ts';
import { createReadyProject } from './support/project.ts';
import { type Sshd, startSshd } from './support/sshd.ts';
import { SvnRepo } from './support/svn.ts';
import { createWorld, type World } from './support/world.ts';

// A team's first day on servers that were lived in before Slipway came: files it never put there (uploads, logs, pages
// of the old site), ssh prepared by Slipway itself (its own key, host keys trusted on purpose).

let world: World<'dev' | 'lead' | 'lead2'>;
let dir: string;
let api: TestApi;
let worker: Worker;
let sshd: Sshd;
let people: World<'dev' | 'lead' | 'lead2'>['people'];
const dataDir = () => join(dir, 'data');

const SOURCE = {
  'index.php': '<?php echo "v0";\n',
  'css/site.css': 'body { color: black }\n',
  'uploads/.htaccess': 'Deny from all\n',
};

beforeAll(async () => {
  world = await createWorld('real-servers', ['dev', 'lead', 'lead2']);
  ({ dir, api, people } = world);
  sshd = await startSshd(dir);
  worker = await startTestWorker(world.database, dataDir());
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await sshd?.stop();
  await world?.close();
});

const members = () => [
  { user: people.dev, role: 'DEVELOPER' as const },
  { user: people.lead, role: 'LEAD' as const },
  { user: people.lead2, role: 'LEAD' as const },
];

async function put(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

/** Commits `files`, files a ticket on their paths, and takes it through test and approval; answers its id. */
async function approved(projectId: string, repo: SvnRepo, files: Record<string, string | null>): Promise<string> {
  await repo.commit('change', files);
  const data = await ok(api, people.dev.token, 'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }', {
    i: { projectId, reason: `change ${Object.keys(files).join(', ')}`, paths: Object.keys(files) },
  });
  const id: string = data.submitTicket.id;
  await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
  await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
  await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
  return id;
}

const DEPLOY =
  'mutation($id: ID!, $full: Boolean, $del: Boolean) { deployTicket(id: $id, fullSync: $full, deleteUnknown: $del) { id } }';

async function deployed(
  id: string,
  options: { fullSync?: boolean; deleteUnknown?: boolean } = {},
): Promise<TicketView> {
  await ok(api, people.lead.token, DEPLOY, {
    id,
    full: options.fullSync ?? false,
    del: options.deleteUnknown ?? false,
  });
  const done = await waitForState(api, people.lead.token, id, ['DEPLOYED', 'DEPLOY_FAILED'], 120_000);
  expect(done.state, JSON.stringify(done.deployResults)).toBe('DEPLOYED');
  return done;
}

async function refused(id: string, options: { fullSync?: boolean } = {}) {
  const answer = await api.gql(
    DEPLOY,
    { id, full: options.fullSync ?? false, del: false },
    { token: people.lead.token },
  );
  expect(answer.errors?.[0]?.extensions?.code, JSON.stringify(answer.errors)).toBe('UNKNOWN_FILES');
  expect((await ticket(api, people.lead.token, id)).state).toBe('APPROVED');
  return answer.errors?.[0]?.extensions?.targets as { name: string; count: number; paths: string[] }[];
}

async function testTarget(targetId: string) {
  const started = await ok(api, people.admin.token, 'mutation($id: ID!) { testTarget(id: $id) { id } }', {
    id: targetId,
  });
  const job = await waitFor(
    () =>
      ok(
        api,
        people.admin.token,
        `query($id: ID!) { job(id: $id) { state error log { text }
          targetCheck { ok hostKeyKnown signedIn problem hostKey { type fingerprint known changedFrom } } } }`,
        { id: started.testTarget.id },
      ),
    (d) => ['SUCCEEDED', 'FAILED'].includes(d.job.state),
  );
  return job.job;
}

async function trust(targetId: string, fingerprint: string, token = people.admin.token) {
  return api.gql(
    'mutation($t: ID!, $f: String!) { trustHostKey(targetId: $t, fingerprint: $f) { id trustedHostKey { type fingerprint trustedBy { login } } } }',
    { t: targetId, f: fingerprint },
    { token },
  );
}

async function preview(id: string, fullSync = false) {
  const started = await ok(
    api,
    people.lead.token,
    'mutation($id: ID!, $full: Boolean) { previewDeploy(id: $id, fullSync: $full) { id } }',
    { id, full: fullSync },
  );
  const done = await waitFor(
    () =>
      ok(
        api,
        people.lead.token,
        'query($id: ID!) { job(id: $id) { state error preview { targetName transfer unknownCount error items { path change unknown } } } }',
        { id: started.previewDeploy.id },
      ),
    (d) => ['SUCCEEDED', 'FAILED'].includes(d.job.state),
  );
  expect(done.job.state, done.job.error).toBe('SUCCEEDED');
  return done.job.preview as {
    targetName: string;
    transfer: string;
    unknownCount: number;
    error: string | null;
    items: { path: string; change: string; unknown: boolean }[];
  }[];
}

async function verify(projectId: string) {
  const started = await ok(api, people.lead.token, 'mutation($p: ID!) { verifyTargets(projectId: $p) { id } }', {
    p: projectId,
  });
  await waitFor(
    () => ok(api, people.lead.token, 'query($id: ID!) { job(id: $id) { state } }', { id: started.verifyTargets.id }),
    (d) => d.job.state === 'SUCCEEDED',
  );
  const data = await ok(
    api,
    people.lead.token,
    'query($p: ID!) { project(id: $p) { targets { name verification { state driftedCount drifted { path change } } } } }',
    { p: projectId },
  );
  return data.project.targets[0].verification as {
    state: string;
    driftedCount: number;
    drifted: { path: string; change: string }[];
  };
}

describe("Slipway's own ssh key and host keys trusted on purpose", () => {
  it('makes a key at first start, shows admins the authorized_keys line, and reaches a target that holds only it', async () => {
    const key = await ok(api, people.admin.token, '{ sshPublicKey }');
    expect(key.sshPublicKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=* slipway@\S+$/);
    const denied = await api.gql('{ sshPublicKey }', undefined, { token: people.lead.token });
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    // The private key in the data directory, for the owner alone; the public half matches the API's.
    const file = join(dataDir(), 'ssh', 'id_ed25519');
    expect((await lstat(file)).mode & 0o777).toBe(0o600);
    expect((await lstat(join(dataDir(), 'ssh'))).mode & 0o777).toBe(0o700);
    expect((await readFile(`${file}.pub`, 'utf8')).split(' ').slice(0, 2)).toEqual(
      key.sshPublicKey.split(' ').slice(0, 2),
    );
    // The target accepts nothing but Slipway's key.
    await writeFile(sshd.authorizedKeysPath, `${key.sshPublicKey}\n`);
  });
});

describe('a lived-in server, in place', () => {
  let repo: SvnRepo;
  let projectId: string;
  let targetId: string;
  const root = () => join(dir, 'web1');

  beforeAll(async () => {
    await mkdir(join(dir, 'repo-inplace'));
    repo = await SvnRepo.create(join(dir, 'repo-inplace'), SOURCE);
    // What the server held before Slipway: the old site's pages, its users' uploads, its logs.
    await put(root(), {
      'index.php': '<?php echo "the old site";\n',
      'old-page.html': '<p>old</p>\n',
      'uploads/avatar-123.jpg': 'JPEG of a user\n',
      'runtime/logs/app.log': 'a log line\n',
    });
    projectId = await createReadyProject(api, people.admin, {
      name: 'lived-in',
      sourceUrl: repo.url,
      stagingPath: join(dir, 'staging-inplace'),
      targets: [{ name: 'web1', host: '127.0.0.1', port: sshd.port, user: sshd.user, path: root() }],
      members: members(),
    });
    const data = await ok(
      api,
      people.admin.token,
      'query($p: ID!) { project(id: $p) { targets { id release { tag } } } }',
      {
        p: projectId,
      },
    );
    targetId = data.project.targets[0].id;
    // A target Slipway never deployed to holds no version of it.
    expect(data.project.targets[0].release).toBeNull();
  }, 120_000);

  it('reports an unknown host key with its fingerprint, trusts it on purpose, then reaches the target', async () => {
    const fingerprint = await sshd.hostKeyFingerprint();
    const first = await testTarget(targetId);
    expect(first.state).toBe('FAILED');
    expect(first.targetCheck).toMatchObject({
      ok: false,
      hostKeyKnown: false,
      hostKey: { type: 'ED25519', fingerprint, known: false, changedFrom: null },
    });
    expect(first.targetCheck.problem).toContain(fingerprint);
    // Trusted only by an admin, and only the key the target showed.
    expect((await trust(targetId, fingerprint, people.lead.token)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const wrong = await trust(targetId, 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(wrong.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'fingerprint',
      problem: 'notShownKey',
    });
    const trusted = await trust(targetId, fingerprint);
    expect(trusted.errors).toBeUndefined();
    expect(trusted.data?.trustHostKey).toMatchObject({
      trustedHostKey: { type: 'ED25519', fingerprint, trustedBy: { login: 'admin' } },
    });
    const again = await testTarget(targetId);
    expect(again.state, again.error).toBe('SUCCEEDED');
    expect(again.targetCheck).toMatchObject({ ok: true, signedIn: true, hostKey: { fingerprint, known: true } });
    // Slipway's known_hosts holds it now.
    expect(await readFile(join(dataDir(), 'ssh', 'known_hosts'), 'utf8')).toContain(
      `[127.0.0.1]:${sshd.port} ssh-ed25519 `,
    );
  });

  it('never deletes what Slipway did not put there unless asked, names it in the preview and the refusal, keeps shared paths', async () => {
    const id = await approved(projectId, repo, { 'index.php': '<?php echo "v1";\n' });
    // The first deploy is a full sync: the preview lists the deletions, each unknown file marked.
    const [target] = await preview(id);
    expect(target).toMatchObject({ targetName: 'web1', transfer: 'FULL', unknownCount: 3, error: null });
    const deleted = target?.items.filter((i) => i.change === 'DELETED');
    expect(deleted?.map((i) => [i.path, i.unknown]).sort()).toEqual([
      ['old-page.html', true],
      ['runtime/logs/app.log', true],
      ['uploads/avatar-123.jpg', true],
    ]);
    expect(target?.items).toContainEqual({ path: 'index.php', change: 'MODIFIED', unknown: false });
    expect(target?.items).toContainEqual({ path: 'css/site.css', change: 'ADDED', unknown: false });

    // Refused, naming them per target; nothing changed there.
    expect(await refused(id)).toEqual([
      { name: 'web1', count: 3, paths: ['old-page.html', 'runtime/logs/app.log', 'uploads/avatar-123.jpg'] },
    ]);
    expect(await readFile(join(root(), 'index.php'), 'utf8')).toContain('old site');

    // Uploads and logs belong to the server: shared paths are never shipped nor deleted.
    await ok(
      api,
      people.admin.token,
      'mutation($id: ID!) { updateProject(id: $id, input: { sharedPaths: ["uploads", "runtime/logs"] }) { sharedPaths } }',
      {
        id: projectId,
      },
    );
    expect(await refused(id)).toEqual([{ name: 'web1', count: 1, paths: ['old-page.html'] }]);

    // Asked for: exactly the unknown file is deleted; the shared ones stay; the release is live.
    const done = await deployed(id, { deleteUnknown: true });
    expect(done.release?.tag).toBe('v1');
    expect(await exists(join(root(), 'old-page.html'))).toBe(false);
    expect(await readFile(join(root(), 'uploads/avatar-123.jpg'), 'utf8')).toBe('JPEG of a user\n');
    expect(await readFile(join(root(), 'runtime/logs/app.log'), 'utf8')).toBe('a log line\n');
    expect(await readFile(join(root(), 'index.php'), 'utf8')).toBe('<?php echo "v1";\n');
    // Never shipped: the repository's uploads/.htaccess stays out of the server's uploads.
    expect(await exists(join(root(), 'uploads/.htaccess'))).toBe(false);
    const target1 = await ok(
      api,
      people.lead.token,
      'query($p: ID!) { project(id: $p) { targets { release { tag } } } }',
      {
        p: projectId,
      },
    );
    expect(target1.project.targets[0].release.tag).toBe('v1');
  }, 180_000);

  it('keeps shared paths through later deploys, full syncs, repairs and rollbacks; an incremental deploy leaves unknown files alone', async () => {
    await put(root(), { 'uploads/new-upload.png': 'PNG\n', 'notes.txt': 'made by hand on the server\n' });
    const v2 = await deployed(await approved(projectId, repo, { 'css/site.css': 'body { color: navy }\n' }));
    expect(v2.release?.tag).toBe('v2');
    // Changed files only: the hand-made file is not the deploy's business.
    expect(await readFile(join(root(), 'notes.txt'), 'utf8')).toBe('made by hand on the server\n');
    // A full sync would delete it: refused, naming it alone (uploads are shared).
    const v3 = await approved(projectId, repo, { 'index.php': '<?php echo "v3";\n' });
    expect(await refused(v3, { fullSync: true })).toEqual([{ name: 'web1', count: 1, paths: ['notes.txt'] }]);
    await deployed(v3);
    // Drift verification sees the hand-made file, never the shared paths.
    const drift = await verify(projectId);
    expect(drift).toMatchObject({
      state: 'DRIFTED',
      driftedCount: 1,
      drifted: [{ path: 'notes.txt', change: 'ADDED' }],
    });
    // A repair would delete it: refused until asked; then exactly it goes, the shared paths stay.
    const targets = await ok(api, people.lead.token, 'query($p: ID!) { project(id: $p) { targets { id } } }', {
      p: projectId,
    });
    const repair = await ok(
      api,
      people.lead.token,
      'mutation($p: ID!, $t: [ID!]!) { requestRepair(projectId: $p, targetIds: $t, reason: "undo the hand edit") { id } }',
      { p: projectId, t: [targets.project.targets[0].id] },
    );
    const repairId = repair.requestRepair.id;
    await ok(api, people.lead2.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id: repairId });
    expect(await refused(repairId)).toEqual([{ name: 'web1', count: 1, paths: ['notes.txt'] }]);
    await deployed(repairId, { deleteUnknown: true });
    expect(await exists(join(root(), 'notes.txt'))).toBe(false);
    for (const kept of ['uploads/avatar-123.jpg', 'uploads/new-upload.png', 'runtime/logs/app.log'])
      expect(await exists(join(root(), kept)), kept).toBe(true);
    expect(await verify(projectId)).toMatchObject({ state: 'IN_SYNC', driftedCount: 0 });

    const releases = await ok(api, people.lead.token, 'query($p: ID!) { releases(projectId: $p) { id tag } }', {
      p: projectId,
    });
    const v1 = releases.releases.find((r: { tag: string }) => r.tag === 'v1');
    const rollback = await approvedRollback(api, people.lead.token, people.lead2.token, v1.id, 'back to v1');
    await deployed(rollback);
    expect(await readFile(join(root(), 'index.php'), 'utf8')).toBe('<?php echo "v1";\n');
    for (const kept of ['uploads/avatar-123.jpg', 'uploads/new-upload.png', 'runtime/logs/app.log'])
      expect(await exists(join(root(), kept)), kept).toBe(true);
  }, 180_000);

  it('refuses to ship a shared path in a ticket', async () => {
    const answer = await api.gql(
      'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
      { i: { projectId, reason: 'a new avatar', paths: ['uploads/default.png'] } },
      { token: people.dev.token },
    );
    expect(answer.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.paths.0',
      problem: 'sharedPath',
    });
  });

  it('never replaces a changed host key silently: the check and the deploy name the old and the new fingerprint', async () => {
    const before = await sshd.hostKeyFingerprint();
    const after = await sshd.newHostKey();
    const check = await testTarget(targetId);
    expect(check.state).toBe('FAILED');
    expect(check.targetCheck.hostKey).toMatchObject({ fingerprint: after, known: false, changedFrom: before });
    expect(check.targetCheck.problem).toContain(before);
    expect(check.targetCheck.problem).toContain(after);
    const id = await approved(projectId, repo, { 'index.php': '<?php echo "v5";\n' });
    await ok(api, people.lead.token, DEPLOY, { id, full: false, del: false });
    const failed = await waitForState(api, people.lead.token, id, ['DEPLOYED', 'DEPLOY_FAILED'], 120_000);
    expect(failed.state).toBe('DEPLOY_FAILED');
    expect(failed.deployResults[0]?.error).toContain(before);
    expect(failed.deployResults[0]?.error).toContain(after);
    expect(failed.deployResults[0]?.error).toMatch(/CHANGED/);
    // Compared and trusted: the retry goes through.
    expect((await trust(targetId, after)).errors).toBeUndefined();
    await ok(api, people.lead.token, 'mutation($id: ID!) { retryDeploy(id: $id) { id } }', { id });
    const done = await waitForState(api, people.lead.token, id, ['DEPLOYED', 'DEPLOY_FAILED'], 120_000);
    expect(done.state, JSON.stringify(done.deployResults)).toBe('DEPLOYED');
  }, 120_000);
});

describe('a lived-in server, atomic', () => {
  let repo: SvnRepo;
  let projectId: string;
  const root = () => join(dir, 'web2');
  const current = (path = '') => join(root(), 'current', path);

  beforeAll(async () => {
    await mkdir(join(dir, 'repo-atomic'));
    repo = await SvnRepo.create(join(dir, 'repo-atomic'), SOURCE);
    projectId = await createReadyProject(api, people.admin, {
      name: 'lived-in-atomic',
      sourceUrl: repo.url,
      stagingPath: join(dir, 'staging-atomic'),
      settings: { deployMode: 'ATOMIC', keepReleases: 3 },
      targets: [{ name: 'web2', host: '127.0.0.1', port: sshd.port, user: sshd.user, path: root() }],
      members: members(),
    });
  }, 120_000);

  it('keeps shared paths in <path>/shared, linked into each release, through deploys, full syncs, rollbacks and repairs', async () => {
    // Host key trusted by the earlier test (same host and port); the first deploy goes into an empty path.
    const v1 = await deployed(await approved(projectId, repo, { 'index.php': '<?php echo "v1";\n' }));
    expect(v1.release?.tag).toBe('v1');
    // The application writes into its live release, as PHP sites do, before the project shares the path.
    await put(current(), { 'uploads/avatar-1.jpg': 'JPEG 1\n' });
    // A full sync would leave it behind with releases/v1: refused.
    const v2 = await approved(projectId, repo, { 'css/site.css': 'body { color: navy }\n' });
    expect(await refused(v2, { fullSync: true })).toEqual([
      { name: 'web2', count: 1, paths: ['uploads/avatar-1.jpg'] },
    ]);
    await ok(
      api,
      people.admin.token,
      'mutation($id: ID!) { updateProject(id: $id, input: { sharedPaths: ["uploads"] }) { id } }',
      {
        id: projectId,
      },
    );
    // The first release that shares it starts shared/uploads from what the live release held there.
    await deployed(v2, { fullSync: true });
    expect(await readlink(join(root(), 'current'))).toBe('releases/v2');
    expect(await readlink(join(root(), 'releases/v2/uploads'))).toBe('../../shared/uploads');
    expect(await readFile(join(root(), 'shared/uploads/avatar-1.jpg'), 'utf8')).toBe('JPEG 1\n');
    expect(await readFile(current('uploads/avatar-1.jpg'), 'utf8')).toBe('JPEG 1\n');
    await put(current(), { 'uploads/avatar-2.jpg': 'JPEG 2\n' });

    const v3 = await deployed(await approved(projectId, repo, { 'index.php': '<?php echo "v3";\n' }));
    expect(v3.release?.tag).toBe('v3');
    expect(await readFile(current('uploads/avatar-2.jpg'), 'utf8')).toBe('JPEG 2\n');
    // Rolled back to v1, whose own uploads directory predates sharing: it is moved aside, and v1 links to shared.
    const releases = await ok(api, people.lead.token, 'query($p: ID!) { releases(projectId: $p) { id tag } }', {
      p: projectId,
    });
    const release = (tag: string) => releases.releases.find((r: { tag: string }) => r.tag === tag);
    await deployed(await approvedRollback(api, people.lead.token, people.lead2.token, release('v1').id, 'back'));
    expect(await readlink(join(root(), 'current'))).toBe('releases/v1');
    expect(await readlink(join(root(), 'releases/v1/uploads'))).toBe('../../shared/uploads');
    expect(await exists(join(root(), 'shared/.superseded/v1'))).toBe(true);
    for (const name of ['avatar-1.jpg', 'avatar-2.jpg'])
      expect(await exists(current(`uploads/${name}`)), name).toBe(true);
    // Drift ignores the shared path; a repair keeps it.
    expect(await verify(projectId)).toMatchObject({ state: 'IN_SYNC' });
    await writeFile(current('index.php'), 'edited by hand\n');
    expect(await verify(projectId)).toMatchObject({
      state: 'DRIFTED',
      drifted: [{ path: 'index.php', change: 'MODIFIED' }],
    });
    const targets = await ok(api, people.lead.token, 'query($p: ID!) { project(id: $p) { targets { id } } }', {
      p: projectId,
    });
    const repair = await ok(
      api,
      people.lead.token,
      'mutation($p: ID!, $t: [ID!]!) { requestRepair(projectId: $p, targetIds: $t, reason: "undo the edit") { id } }',
      { p: projectId, t: [targets.project.targets[0].id] },
    );
    await ok(api, people.lead2.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', {
      id: repair.requestRepair.id,
    });
    await deployed(repair.requestRepair.id);
    expect(await readFile(current('index.php'), 'utf8')).toBe('<?php echo "v1";\n');
    for (const name of ['avatar-1.jpg', 'avatar-2.jpg'])
      expect(await exists(current(`uploads/${name}`)), name).toBe(true);
  }, 240_000);

  it('carries a file the application wrote into the live release to the next one, even from a spare copy made before it', async () => {
    const live = await readlink(join(root(), 'current'));
    const version = live.replace('releases/', '');
    // The background spare copy of the live release (made once the last deploy's connection closed).
    await waitFor(
      () => exists(join(root(), `releases/.${version}.spare`)),
      (ready) => ready,
    );
    await put(current(), { 'cache/page.html': 'written by the application\n' });
    const next = await deployed(await approved(projectId, repo, { 'index.php': '<?php echo "v4";\n' }));
    expect(next.release?.tag).toBe('v4');
    expect(await readFile(current('cache/page.html'), 'utf8')).toBe('written by the application\n');
  }, 120_000);
});

describe('in the console', () => {
  let browser: Browser;
  let other: Sshd;
  let repo: SvnRepo;
  let projectId: string;
  const root = () => join(dir, 'web3');

  beforeAll(async () => {
    browser = await launchBrowser();
    // A server Slipway has not met: only its own key is accepted there, its host key is not trusted yet.
    other = await startSshd(join(dir, 'sshd-console'));
    const key = await ok(api, people.admin.token, '{ sshPublicKey }');
    await writeFile(other.authorizedKeysPath, `${key.sshPublicKey}\n`);
    await mkdir(join(dir, 'repo-console'));
    repo = await SvnRepo.create(join(dir, 'repo-console'), SOURCE);
    await put(root(), { 'index.php': 'the old site\n', 'robots.txt': 'made by hand\n' });
    projectId = await createReadyProject(api, people.admin, {
      name: 'console-site',
      sourceUrl: repo.url,
      stagingPath: join(dir, 'staging-console'),
      targets: [{ name: 'web3', host: '127.0.0.1', port: other.port, user: other.user, path: root() }],
      members: members(),
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await other?.stop();
  });

  it('shows admins the ssh key to install and the host key to compare, and trusts it in one click', async () => {
    const key = (await ok(api, people.admin.token, '{ sshPublicKey }')).sshPublicKey as string;
    const fingerprint = await other.hostKeyFingerprint();
    for (const locale of ['en', 'zh-CN'] as const) {
      const admin = await signedIn(browser, api.url, 'admin', people.admin.password, { locale });
      const { page } = admin;
      await page.goto(`${api.url}/#/admin`);
      await page.click('[role=tab] >> nth=1');
      await expect.poll(() => page.textContent('[data-testid=ssh-public-key]')).toBe(key);
      await page.screenshot({ path: join(artifactsDir, `ssh-key-${locale}.png`) });
      await page.click('[data-testid=projects] tr:has-text("console-site") [data-testid=project-settings-link]');
      await page.click(
        `[data-testid=targets] tr:has-text("web3") button:has-text("${locale === 'en' ? 'Test' : '测试'}")`,
      );
      await expect.poll(() => page.textContent('[data-testid=fingerprint]'), { timeout: 20_000 }).toBe(fingerprint);
      const hostKey = page.locator('[data-testid=host-key]');
      await hostKey.scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(artifactsDir, `test-connection-${locale}.png`) });
      if (locale === 'en') {
        expect(await hostKey.textContent()).toContain('not trusted yet');
        await page.click('[data-testid=trust-key]');
        await page.click('[data-testid=dialog-confirm]');
        await expect.poll(() => page.textContent('[data-testid=host-key]'), { timeout: 20_000 }).toContain('trusted');
        await expect.poll(() => page.locator('[data-testid=trust-key]').count()).toBe(0);
        await expect.poll(() => page.textContent('[data-testid=trusted-key]')).toContain(fingerprint);
      } else {
        expect(await hostKey.textContent()).toContain('已信任');
      }
      expect(admin.errors).toEqual([]);
      await admin.context.close();
    }
  }, 120_000);

  it('lists the files a first deploy would delete that no release put there, and deletes them only when ticked', async () => {
    const id = await approved(projectId, repo, { 'index.php': '<?php echo "v1";\n' });
    for (const locale of ['zh-CN', 'en'] as const) {
      const lead = await signedIn(browser, api.url, 'lead', people.lead.password, { locale });
      const { page } = lead;
      await page.goto(`${api.url}/#/tickets/${id}`);
      await page.click('button[data-action=DEPLOY]');
      await page.click('[data-testid=preview-button]');
      await page.waitForSelector('[data-testid=unknown-files]', { timeout: 30_000 });
      const listed = await page.textContent('[data-testid=unknown-files]');
      expect(listed).toContain('robots.txt');
      expect(await page.textContent('[data-testid=preview-target]')).toMatch(locale === 'en' ? /1 deleted/ : /删除 1/);
      await page.screenshot({ path: join(artifactsDir, `deploy-unknown-files-${locale}.png`) });
      if (locale === 'en') {
        // Without the box: refused, nothing changed; with it: deployed, the file gone.
        await page.click('[data-testid=dialog-confirm]');
        await expect
          .poll(() => page.textContent('[data-testid=dialog-error]'), { timeout: 30_000 })
          .toMatch(/delete 1 file/);
        expect(await readFile(join(root(), 'robots.txt'), 'utf8')).toBe('made by hand\n');
        await page.check('[data-testid=delete-unknown]');
        await page.click('[data-testid=dialog-confirm]');
        await expect
          .poll(() => page.getAttribute('[data-testid=ticket-state-current]', 'data-state'), { timeout: 30_000 })
          .toBe('DEPLOYED');
        expect(await exists(join(root(), 'robots.txt'))).toBe(false);
      }
      expect(lead.errors).toEqual([]);
      await lead.context.close();
    }
  }, 120_000);

  it('says so on the ticket page when a ticket changes nothing', async () => {
    const data = await ok(
      api,
      people.dev.token,
      'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
      {
        i: { projectId, reason: 'the same css', paths: ['css/site.css'] },
      },
    );
    const id = data.submitTicket.id;
    const staged = await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
    expect(staged.events.at(-1)?.comment).toMatch(
      /^revision \d+: this ticket changes nothing \(its paths are as in v1\)$/,
    );
    const dev = await signedIn(browser, api.url, 'dev', people.dev.password);
    await dev.page.goto(`${api.url}/#/tickets/${id}`);
    await expect
      .poll(() => dev.page.textContent('[data-testid=changes-nothing]'))
      .toContain('This ticket changes nothing');
    await dev.context.close();
  }, 60_000);
});

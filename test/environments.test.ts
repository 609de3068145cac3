import { lstat, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { checkPromotion, environments, releases } from '@slipway/schema';
import { eq } from 'drizzle-orm';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from './support/api.ts';
import { artifactsDir, launchBrowser, signedIn } from './support/browser.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, type TicketView, ticket, waitFor, waitForState } from './support/flow.ts';
import { createReadyProject, ledgerOf } from './support/project.ts';
import { type Sshd, startSshd } from './support/sshd.ts';
import { SvnRepo } from './support/svn.ts';
import { exactSnapshot, snapshot, tagSnapshot } from './support/tree.ts';
import { createWorld, type World } from './support/world.ts';

// One tag travels QA → gray → production: a local QA target, a gray group of one ssh target, a production of three.

let world: World<'dev' | 'lead' | 'lead2'>;
let dir: string;
let api: TestApi;
let worker: Worker;
let sshd: Sshd;
let repo: SvnRepo;
let people: World<'dev' | 'lead' | 'lead2'>['people'];
let projectId: string;
const env: Record<'qa' | 'gray' | 'production', string> = { qa: '', gray: '', production: '' };
const dataDir = () => join(dir, 'data');
const targetDir = (name: string) => join(dir, 'targets', name);
const PRODUCTION = ['prod1', 'prod2', 'prod3'];

beforeAll(async () => {
  world = await createWorld('environments', ['dev', 'lead', 'lead2']);
  ({ dir, api, people } = world);
  sshd = await startSshd(dir);
  await mkdir(join(dir, 'repo'));
  repo = await SvnRepo.create(join(dir, 'repo'), { 'www/index.html': 'v0\n', 'www/app.js': 'app 0\n' });
  worker = await startTestWorker(world.database, dataDir());
  const ssh = { host: '127.0.0.1', port: sshd.port, user: sshd.user };
  projectId = await createReadyProject(api, people.admin, {
    name: 'traveller',
    sourceUrl: repo.url,
    stagingPath: join(dir, 'staging'),
    settings: { sshKeyPath: sshd.keyPath, knownHostsPath: sshd.knownHostsPath },
    targets: [],
    members: [
      { user: people.dev, role: 'DEVELOPER' },
      { user: people.lead, role: 'LEAD' },
      { user: people.lead2, role: 'LEAD' },
    ],
  });
  // The project's one environment becomes QA; gray and production come after it.
  const [first] = (await environmentsOf()).map((e) => e.id);
  env.qa = first as string;
  await ok(api, people.admin.token, 'mutation($id: ID!) { updateEnvironment(id: $id, input: { name: "qa" }) { id } }', {
    id: env.qa,
  });
  const add = 'mutation($p: ID!, $i: EnvironmentInput!) { addEnvironment(projectId: $p, input: $i) { id position } }';
  env.gray = (
    await ok(api, people.admin.token, add, { p: projectId, i: { name: 'gray', requiredApprovals: 1 } })
  ).addEnvironment.id;
  env.production = (
    await ok(api, people.admin.token, add, {
      p: projectId,
      i: { name: 'production', requiredApprovals: 2, parallelism: 2 },
    })
  ).addEnvironment.id;
  const target = 'mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }';
  await ok(api, people.admin.token, target, {
    p: projectId,
    t: { name: 'qa1', path: targetDir('qa1'), environmentId: env.qa },
  });
  await ok(api, people.admin.token, target, {
    p: projectId,
    t: { name: 'gray1', ...ssh, path: targetDir('gray1'), environmentId: env.gray },
  });
  for (const name of PRODUCTION)
    await ok(api, people.admin.token, target, {
      p: projectId,
      t: { name, ...ssh, path: targetDir(name), environmentId: env.production },
    });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await sshd?.stop();
  await world?.close();
});

interface EnvironmentView {
  id: string;
  name: string;
  position: number;
  frozen: boolean;
  liveRelease: { tag: string } | null;
  targets: { name: string; release: { tag: string } | null }[];
}

async function environmentsOf(): Promise<EnvironmentView[]> {
  const data = await ok(
    api,
    people.lead.token,
    `query($p: ID!) { project(id: $p) { environments { id name position frozen liveRelease { tag }
      targets { name release { tag } } } } }`,
    { p: projectId },
  );
  return data.project.environments;
}

/** Where each environment is now: its name and live tag. */
async function liveTags(): Promise<Record<string, string | undefined>> {
  return Object.fromEntries((await environmentsOf()).map((e) => [e.name, e.liveRelease?.tag]));
}

async function releaseId(tag: string): Promise<string> {
  const data = await ok(api, people.dev.token, 'query($p: ID!) { releases(projectId: $p) { id tag } }', {
    p: projectId,
  });
  return data.releases.find((r: { tag: string }) => r.tag === tag).id;
}

async function shipToQa(files: Record<string, string>): Promise<TicketView> {
  await repo.commit('change', files);
  const data = await ok(api, people.dev.token, 'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }', {
    i: { projectId, reason: `change ${Object.keys(files).join(', ')}`, paths: Object.keys(files) },
  });
  const id = data.submitTicket.id;
  await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
  await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
  await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
  return deployed(id);
}

async function deployed(id: string): Promise<TicketView> {
  await ok(api, people.lead.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
  const done = await waitForState(api, people.lead.token, id, ['DEPLOYED', 'DEPLOY_FAILED'], 120_000);
  expect(done.state, JSON.stringify(done.deployResults)).toBe('DEPLOYED');
  return done;
}

const PROMOTE =
  'mutation($r: ID!, $e: ID!, $why: String!) { requestPromotion(releaseId: $r, environmentId: $e, reason: $why) { id kind state environment { name } release { tag } } }';

async function promote(tag: string, to: string, token = people.dev.token) {
  return api.gql(PROMOTE, { r: await releaseId(tag), e: to, why: `${tag} is fine` }, { token });
}

/** Files a promotion that must be accepted; answers its id. */
async function promotion(tag: string, to: string): Promise<string> {
  const data = await ok(api, people.dev.token, PROMOTE, { r: await releaseId(tag), e: to, why: `${tag} is fine` });
  return data.requestPromotion.id;
}

/** Each target's entries with their inode and modification time: equal snapshots mean nothing there was touched. */
async function untouched(names: string[]) {
  const seen: Record<string, string> = {};
  for (const name of names) {
    for (const path of Object.keys(await exactSnapshot(targetDir(name)))) {
      const stat = await lstat(join(targetDir(name), path));
      seen[`${name}/${path}`] = `${stat.ino} ${stat.mtimeMs}`;
    }
  }
  return seen;
}

describe('a release travelling through environments', () => {
  it('deploys a release ticket to the first environment only', async () => {
    const v1 = await shipToQa({ 'www/index.html': 'v1\n' });
    expect(v1.release?.tag).toBe('v1');
    const view = await ticket(api, people.dev.token, v1.id);
    expect(view.deployResults.map((r) => r.targetName)).toEqual(['qa1']);
    expect(await liveTags()).toEqual({ qa: 'v1', gray: 'v0', production: 'v0' });
    expect(await readFile(join(targetDir('qa1'), 'www/index.html'), 'utf8')).toBe('v1\n');
    const where = await ok(
      api,
      people.dev.token,
      'query($id: ID!) { ticket(id: $id) { environment { name } release { liveIn { name } } } }',
      {
        id: v1.id,
      },
    );
    expect(where.ticket).toEqual({ environment: { name: 'qa' }, release: { liveIn: [{ name: 'qa' }] } });
  }, 120_000);

  it('refuses a promotion out of order, and one from the first environment', async () => {
    const skip = await promote('v1', env.production);
    expect(skip.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_PROMOTABLE', reason: 'NEVER_LIVE' });
    const first = await promote('v1', env.qa);
    expect(first.errors?.[0]?.extensions?.code).toMatch(/NOT_PROMOTABLE|BAD_USER_INPUT/);
  });

  it('promotes to gray after its approval (not the requester’s own) and its bake time: the same tag, byte for byte', async () => {
    const asked = await promote('v1', env.gray, people.lead.token);
    expect(asked.errors).toBeUndefined();
    const promotion = asked.data?.requestPromotion as { id: string; kind: string; state: string };
    expect(promotion).toMatchObject({
      kind: 'PROMOTION',
      state: 'AWAITING_APPROVAL',
      environment: { name: 'gray' },
      release: { tag: 'v1' },
    });
    const self = await api.gql(
      'mutation($id: ID!) { approveTicket(id: $id) { id } }',
      { id: promotion.id },
      {
        token: people.lead.token,
      },
    );
    expect(self.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'OWN_TICKET_APPROVAL' });
    await ok(api, people.lead2.token, 'mutation($id: ID!) { approveTicket(id: $id) { id state } }', {
      id: promotion.id,
    });

    // Gray takes a release an hour after it went live on QA.
    await ok(
      api,
      people.admin.token,
      'mutation($id: ID!) { updateEnvironment(id: $id, input: { bakeMinutes: 60 }) { id } }',
      {
        id: env.gray,
      },
    );
    const early = await api.gql(
      'mutation($id: ID!) { deployTicket(id: $id) { id } }',
      { id: promotion.id },
      {
        token: people.lead.token,
      },
    );
    expect(early.errors?.[0]?.extensions?.code).toBe('BAKING');
    const left = Number(early.errors?.[0]?.extensions?.retryAfterSeconds);
    expect(left).toBeGreaterThan(3500);
    expect(left).toBeLessThanOrEqual(3600);
    expect((await ticket(api, people.lead.token, promotion.id)).state).toBe('APPROVED');
    // An hour later the same check lets it through.
    const { db } = world.database;
    const [release] = await db
      .select()
      .from(releases)
      .where(eq(releases.id, Number(await releaseId('v1'))));
    const [gray] = await db
      .select()
      .from(environments)
      .where(eq(environments.id, Number(env.gray)));
    if (!release || !gray) throw new Error('setup');
    const { since } = await checkPromotion(db, release, gray);
    await expect(checkPromotion(db, release, gray, new Date(since.getTime() + 59 * 60_000))).rejects.toThrow(
      /BAKING|left/,
    );
    await checkPromotion(db, release, gray, new Date(since.getTime() + 60 * 60_000 + 1000));
    await ok(
      api,
      people.admin.token,
      'mutation($id: ID!) { updateEnvironment(id: $id, input: { bakeMinutes: 0 }) { id } }',
      {
        id: env.gray,
      },
    );

    const tagsBefore = (
      await ok(api, people.dev.token, 'query($p: ID!) { releases(projectId: $p) { tag } }', { p: projectId })
    ).releases.length;
    const done = await deployed(promotion.id);
    expect(done.jobs.map((j) => j.kind).filter((k) => k !== 'WEBHOOK' && k !== 'PREVIEW')).toEqual(['PROMOTE']);
    expect(done.deployResults.map((r) => r.targetName)).toEqual(['gray1']);
    expect(await liveTags()).toEqual({ qa: 'v1', gray: 'v1', production: 'v0' });
    // No new tag: gray holds v1 exactly.
    const after = await ok(api, people.dev.token, 'query($p: ID!) { releases(projectId: $p) { tag } }', {
      p: projectId,
    });
    expect(after.releases.length).toBe(tagsBefore);
    expect(await snapshot(targetDir('gray1'))).toEqual(await tagSnapshot(ledgerOf(dataDir(), projectId), 'v1'));
  }, 120_000);

  it('promotes to production with its two approvals; a new ticket builds on what QA runs', async () => {
    const id = await promotion('v1', env.production);
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    expect((await ticket(api, people.lead.token, id)).state).toBe('AWAITING_APPROVAL');
    await ok(api, people.lead2.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    const done = await deployed(id);
    expect(done.deployResults.map((r) => r.targetName)).toEqual(PRODUCTION);
    const v1 = await tagSnapshot(ledgerOf(dataDir(), projectId), 'v1');
    for (const name of PRODUCTION) expect(await snapshot(targetDir(name)), name).toEqual(v1);

    const v2 = await shipToQa({ 'www/app.js': 'app 2\n' });
    expect(v2.release?.tag).toBe('v2');
    expect(await readFile(join(targetDir('qa1'), 'www/index.html'), 'utf8')).toBe('v1\n');
    expect(await readFile(join(targetDir('qa1'), 'www/app.js'), 'utf8')).toBe('app 2\n');
    expect(await liveTags()).toEqual({ qa: 'v2', gray: 'v1', production: 'v1' });
  }, 120_000);

  it('rolls back gray alone, touching neither QA nor production, and that release goes no further', async () => {
    const id = await promotion('v2', env.gray);
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    await deployed(id);
    expect(await liveTags()).toEqual({ qa: 'v2', gray: 'v2', production: 'v1' });

    // A project with several environments names the one to roll back.
    const rollback =
      'mutation($r: ID!, $e: ID, $why: String!) { requestRollback(releaseId: $r, environmentId: $e, reason: $why) { id environment { name } } }';
    const unnamed = await api.gql(
      rollback,
      { r: await releaseId('v1'), why: 'gray errors' },
      { token: people.dev.token },
    );
    expect(unnamed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'environmentId' });
    const before = await untouched(['qa1', ...PRODUCTION]);
    const back = await ok(api, people.dev.token, rollback, {
      r: await releaseId('v1'),
      e: env.gray,
      why: 'gray errors',
    });
    expect(back.requestRollback.environment.name).toBe('gray');
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', {
      id: back.requestRollback.id,
    });
    const done = await deployed(back.requestRollback.id);
    expect(done.deployResults.map((r) => r.targetName)).toEqual(['gray1']);
    expect(await liveTags()).toEqual({ qa: 'v2', gray: 'v1', production: 'v1' });
    expect(await untouched(['qa1', ...PRODUCTION])).toEqual(before);
    expect(await readFile(join(targetDir('gray1'), 'www/app.js'), 'utf8')).toBe('app 0\n');

    const onward = await promote('v2', env.production);
    expect(onward.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_PROMOTABLE', reason: 'ROLLED_BACK' });
  }, 120_000);

  it('freezes one environment, leaving the others open', async () => {
    await ok(
      api,
      people.lead.token,
      'mutation($e: ID!) { freezeEnvironment(environmentId: $e, reason: "gray under watch") { id frozen } }',
      { e: env.gray },
    );
    expect((await environmentsOf()).map((e) => [e.name, e.frozen])).toEqual([
      ['qa', false],
      ['gray', true],
      ['production', false],
    ]);
    const v3 = await shipToQa({ 'www/index.html': 'v3\n' });
    expect(v3.release?.tag).toBe('v3');
    const id = await promotion('v3', env.gray);
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    const frozen = await api.gql(
      'mutation($id: ID!) { deployTicket(id: $id) { id } }',
      { id },
      { token: people.lead.token },
    );
    expect(frozen.errors?.[0]?.extensions).toMatchObject({ code: 'FROZEN', reason: 'gray under watch' });
    await ok(api, people.lead.token, 'mutation($e: ID!) { unfreezeEnvironment(environmentId: $e) { id } }', {
      e: env.gray,
    });
    await deployed(id);
    expect(await liveTags()).toEqual({ qa: 'v3', gray: 'v3', production: 'v1' });
  }, 120_000);

  it('says where each version runs: per environment history and metrics', async () => {
    const data = await ok(
      api,
      people.dev.token,
      `query($p: ID!) { releases(projectId: $p) { tag live liveIn { name } }
        project(id: $p) { environments { name liveHistory { release { tag } ticket { kind } } } } }`,
      { p: projectId },
    );
    const liveIn = Object.fromEntries(
      data.releases.map((r: { tag: string; liveIn: { name: string }[] }) => [r.tag, r.liveIn.map((e) => e.name)]),
    );
    expect(liveIn).toMatchObject({ v3: ['qa', 'gray'], v2: [], v1: ['production'], v0: [] });
    const gray = data.project.environments.find((e: { name: string }) => e.name === 'gray');
    expect(
      gray.liveHistory.map((c: { release: { tag: string }; ticket: { kind: string } }) => [
        c.release.tag,
        c.ticket.kind,
      ]),
    ).toEqual([
      ['v3', 'PROMOTION'],
      ['v1', 'ROLLBACK'],
      ['v2', 'PROMOTION'],
      ['v1', 'PROMOTION'],
    ]);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(/slipway_environment_live_release\{project="traveller",environment="qa"\} 3/);
    expect(metrics).toMatch(/slipway_environment_live_release\{project="traveller",environment="production"\} 1/);
  });

  it('keeps a project of one environment as before: every target in it, no environment to name', async () => {
    await mkdir(join(dir, 'solo-repo'));
    const solo = await SvnRepo.create(join(dir, 'solo-repo'), { 'www/a.html': 'a\n' });
    const soloId = await createReadyProject(api, people.admin, {
      name: 'solo',
      sourceUrl: solo.url,
      stagingPath: join(dir, 'staging-solo'),
      targets: [{ name: 'only', path: targetDir('solo') }],
      members: [{ user: people.dev, role: 'DEVELOPER' }],
    });
    const data = await ok(
      api,
      people.dev.token,
      'query($p: ID!) { project(id: $p) { environments { name targets { name } } } }',
      {
        p: soloId,
      },
    );
    expect(data.project.environments).toEqual([{ name: 'production', targets: [{ name: 'only' }] }]);
  });
});

describe('in the console', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('shows the environments side by side and asks for a promotion with what it ships, in both languages', async () => {
    for (const locale of ['zh-CN', 'en'] as const) {
      const lead = await signedIn(browser, api.url, 'lead', people.lead.password, { locale });
      const { page } = lead;
      await page.goto(`${api.url}/#/projects/${projectId}/releases`);
      await page.waitForSelector('[data-testid=environment]');
      const cards = await page.$$eval('[data-testid=environment]', (all) =>
        all.map((card) => [
          card.getAttribute('data-name'),
          card.querySelector('[data-testid=environment-live]')?.textContent,
        ]),
      );
      expect(cards).toEqual([
        ['qa', 'v3'],
        ['gray', 'v3'],
        ['production', 'v1'],
      ]);
      await page.screenshot({ path: join(artifactsDir, `environments-${locale}.png`), fullPage: true });
      // Gray runs v3, production v1: gray's card offers the promotion.
      await page.click('[data-testid=environment][data-name=gray] [data-testid=promote]');
      await page.waitForSelector('[data-testid=dialog-tickets]');
      expect(await page.textContent('[data-testid=dialog-tickets]')).toMatch(/v3[\s\S]*v2/);
      await expect
        .poll(() => page.textContent('[data-testid=dialog-reverts]'), { timeout: 20_000 })
        .toMatch(/www\/app\.js/);
      await page.screenshot({ path: join(artifactsDir, `promotion-dialog-${locale}.png`) });
      if (locale === 'en') {
        expect(await page.textContent('[data-testid=dialog]')).toContain('Needs 2 approval(s)');
        await page.fill('[data-testid=dialog-comment]', 'v3 ran on gray all morning');
        await page.click('[data-testid=dialog-confirm]');
        await page.waitForURL(/#\/tickets\/\d+$/);
        await expect.poll(() => page.textContent('main')).toContain('promotes v3 to production');
      } else {
        await page.keyboard.press('Escape');
      }
      expect(lead.errors).toEqual([]);
      await lead.context.close();
    }
    // On a phone the cards stack: nothing scrolls sideways.
    const phone = await signedIn(browser, api.url, 'lead', people.lead.password, { width: 390, height: 844 });
    await phone.page.goto(`${api.url}/#/projects/${projectId}/releases`);
    await phone.page.waitForSelector('[data-testid=environment]');
    expect(await phone.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)).toBe(true);
    await phone.page.screenshot({ path: join(artifactsDir, 'environments-phone.png'), fullPage: true });
    await phone.context.close();
  }, 120_000);
});

describe('managing environments', () => {
  it('refuses to remove one with targets or the only one, and to add one twice; orders them', async () => {
    const remove = 'mutation($id: ID!) { removeEnvironment(id: $id) }';
    const held = await api.gql(remove, { id: env.production }, { token: people.admin.token });
    expect(held.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    const twice = await api.gql(
      'mutation($p: ID!) { addEnvironment(projectId: $p, input: { name: "GRAY" }) { id } }',
      { p: projectId },
      { token: people.admin.token },
    );
    expect(twice.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.name' });
    const byLead = await api.gql(
      'mutation($p: ID!) { addEnvironment(projectId: $p, input: { name: "staging2" }) { id } }',
      { p: projectId },
      { token: people.lead.token },
    );
    expect(byLead.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const extra = await ok(
      api,
      people.admin.token,
      'mutation($p: ID!) { addEnvironment(projectId: $p, input: { name: "dr" }) { id position liveRelease { tag } } }',
      {
        p: projectId,
      },
    );
    expect(extra.addEnvironment.position).toBe(3);
    const target = await api.gql(
      'mutation($p: ID!) { addTarget(projectId: $p, input: { name: "nowhere", path: "/srv/nowhere" }) { id } }',
      { p: projectId },
      { token: people.admin.token },
    );
    expect(target.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.environmentId' });
    expect(await ok(api, people.admin.token, remove, { id: extra.addEnvironment.id })).toEqual({
      removeEnvironment: true,
    });
    await waitFor(
      async () => (await environmentsOf()).length,
      (n) => n === 3,
    );
  });
});

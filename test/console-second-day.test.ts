import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { jobs } from '@slipway/schema';
import { and, eq } from 'drizzle-orm';
import { execa } from 'execa';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactsDir, type ConsolePage, launchBrowser, signedIn } from './support/browser.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, submitTicket, waitFor, waitForState } from './support/flow.ts';
import { underLoad } from './support/load.ts';
import { createReadyProject } from './support/project.ts';
import { SvnRepo } from './support/svn.ts';
import { createWorld, type World } from './support/world.ts';

/**
 * The console on a team's second day: one lead (so an admin who is not a member approves), a settings page of its
 * own, an output pane that stays on the ticket's jobs, a path field that helps, and the small things.
 */
type Login = 'dev' | 'lead';
let world: World<Login>;
let people: World<Login>['people'];
let worker: Worker;
let browser: Browser;
let svn: SvnRepo;
let projectId = '';
const received: {
  path: string;
  body: { title?: string; lines?: string[]; markdown?: { title: string; text: string } };
}[] = [];
let receiver: ReturnType<typeof createServer>;
let receiverUrl = '';
const LOCALES = ['en', 'zh-CN'] as const;

beforeAll(async () => {
  world = await createWorld('second-day', ['dev', 'lead']);
  people = world.people;
  receiver = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => {
      text += chunk;
    });
    request.on('end', () => {
      received.push({ path: new URL(request.url ?? '/', 'http://x').pathname, body: JSON.parse(text) });
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ errcode: 0 }));
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  await mkdir(join(world.dir, 'svn'), { recursive: true });
  svn = await SvnRepo.create(join(world.dir, 'svn'), {
    'www/index.html': 'index 0\n',
    'www/about.html': 'about 0\n',
    'www/css/site.css': 'body {}\n',
    'www/img/logo.txt': 'logo\n',
  });
  worker = await startTestWorker(world.database, join(world.dir, 'data'));
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  receiver?.close();
  await world?.close();
});

const api = () => world.api;
const stateOf = (page: Page) => page.locator('[data-testid=ticket-state-current]').getAttribute('data-state');
const noSidewaysScroll = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= innerWidth);

/** The project, made once (the first test looks at a Slipway with none): two local targets, one lead, channels. */
async function project(): Promise<string> {
  if (projectId) return projectId;
  projectId = await createReadyProject(api(), people.admin, {
    name: 'shop',
    sourceUrl: svn.url,
    stagingPath: join(world.dir, 'staging'),
    settings: { stagingUrl: 'http://staging.example.test/' },
    targets: [
      { name: 'web-1', path: join(world.dir, 'web-1') },
      { name: 'web-2', path: join(world.dir, 'web-2') },
    ],
    members: [
      { user: people.dev, role: 'DEVELOPER' },
      { user: people.lead, role: 'LEAD' },
    ],
  });
  // An admin who is no member manages the channels (as a lead would): a program's webhook and a Chinese DingTalk.
  const add =
    'mutation($p: ID!, $i: NotificationChannelInput!) { addNotificationChannel(projectId: $p, input: $i) { id } }';
  const events = ['DEPLOYED', 'DRIFT_DETECTED'];
  await ok(api(), people.admin.token, add, {
    p: projectId,
    i: { kind: 'WEBHOOK', name: 'program', url: `${receiverUrl}/webhook`, events },
  });
  await ok(api(), people.admin.token, add, {
    p: projectId,
    i: { kind: 'DINGTALK', name: '钉钉', url: `${receiverUrl}/dingtalk`, events, language: 'ZH_CN' },
  });
  return projectId;
}

/** A release through the API: the developer files and passes it, the one lead approves, the developer deploys. */
async function release(file: string, content: string): Promise<string> {
  await svn.commit(`change ${file}`, { [file]: content });
  const id = await submitTicket(api(), people.dev.token, await project(), `change ${file}`, [file]);
  await waitForState(api(), people.dev.token, id, 'AWAITING_TEST');
  await ok(api(), people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
  await ok(api(), people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
  await ok(api(), people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
  await waitForState(api(), people.dev.token, id, 'DEPLOYED', 30_000);
  return id;
}

async function releases(): Promise<{ id: string; tag: string }[]> {
  const data = await ok(api(), people.admin.token, 'query($p: ID!) { releases(projectId: $p) { id tag } }', {
    p: await project(),
  });
  return data.releases;
}

/** A new API session for a user whose sessions a password reset ended. */
async function signInAgain(login: string, password: string): Promise<World<Login>['people']['dev']> {
  const data = await ok(api(), '', 'mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }', {
    l: login,
    p: password,
  });
  return { ...people.dev, token: data.login.token, password };
}

async function close(...pages: ConsolePage[]) {
  for (const page of pages) {
    expect(page.errors).toEqual([]);
    await page.context.close();
  }
}

describe('a first sign-in', () => {
  it('shows an admin what to do first, asks for a password of one’s own, and signs out cleanly (both languages)', async () => {
    for (const locale of LOCALES) {
      // No project yet: the start page says what to do first and links to the projects tab.
      const admin = await signedIn(browser, api().url, 'admin', people.admin.password, { locale });
      const first = admin.page.locator('[data-testid=first-project]');
      await first.waitFor();
      expect(await first.locator('li').count()).toBe(3);
      await admin.page.screenshot({ path: join(artifactsDir, `first-project-${locale}.png`), fullPage: true });
      await first.locator('a').click();
      await admin.page.waitForSelector('[data-testid=projects]');

      // The new-user form shows every problem at its field at once (a login with a space, a short password).
      await admin.page.click('[role=tab] >> nth=0');
      const form = admin.page.locator('[data-testid=new-user-form]');
      await form.locator('input[name=login]').fill('new person');
      await form.locator('input[name=name]').fill('New Person');
      await form.locator('input[name=password]').fill('short');
      await form.locator('button[type=submit]').click();
      await expect.poll(() => form.locator('[role=alert]').count()).toBe(2);
      const alerts = await form.locator('[role=alert]').allTextContents();
      expect(alerts[0]).toMatch(locale === 'en' ? /letters, digits/ : /字母/);
      expect(alerts[1]).toMatch(locale === 'en' ? /at least 8/ : /8/);
      await admin.page.screenshot({ path: join(artifactsDir, `new-user-errors-${locale}.png`), fullPage: true });
      // Corrected, the user is made with the password the admin chose: the console asks them for their own.
      const login = `newcomer-${locale}`;
      const password = `chosen by the admin ${locale}`;
      await form.locator('input[name=login]').fill(login);
      await form.locator('input[name=password]').fill(password);
      await form.locator('button[type=submit]').click();
      await expect.poll(() => form.locator('[role=status]').count()).toBe(1);
      const dev = await signedIn(browser, api().url, login, password, { locale });
      const notice = dev.page.locator('[data-testid=change-password]');
      await notice.waitFor();
      expect(await notice.textContent()).toMatch(locale === 'en' ? /choose your own/ : /设置自己的密码/);
      await dev.page.screenshot({ path: join(artifactsDir, `change-password-${locale}.png`) });
      await notice.locator('a').click();
      await dev.page.fill('input[name=current-password]', password);
      await dev.page.fill('input[name=new-password]', `${password} of my own`);
      await dev.page.click('[data-testid=password-form] button[type=submit]');
      await expect.poll(() => notice.count()).toBe(0);

      // Signing out leaves a plain sign-in page: the next person does not land on this one's page.
      await dev.page.goto(`${api().url}/#/me`);
      await dev.page.waitForSelector('[data-testid=profile-form]');
      await dev.page.getByRole('button', { name: locale === 'en' ? 'Sign out' : '退出登录' }).click();
      await dev.page.waitForSelector('input[name=login]');
      expect(new URL(dev.page.url()).hash).toBe('#/login');
      await dev.page.fill('input[name=login]', 'lead');
      await dev.page.fill('input[name=password]', people.lead.password);
      await dev.page.press('input[name=password]', 'Enter');
      await dev.page.waitForSelector('[data-testid=current-user]');
      expect(new URL(dev.page.url()).hash).toBe('#/');
      await close(admin, dev);
    }
    // An admin's reset is a password made for the user too.
    await ok(
      api(),
      people.admin.token,
      'mutation($u: ID!) { resetPassword(userId: $u, newPassword: "reset by the admin") { mustChangePassword } }',
      {
        u: people.dev.id,
      },
    ).then((data) => expect(data.resetPassword.mustChangePassword).toBe(true));
    people.dev = await signInAgain('dev', 'reset by the admin');
  }, 120_000);
});

describe('the path field', () => {
  it('says paths are relative to the source URL, suggests the staging copy’s paths, and says at once when one is nowhere', async () => {
    const id = await project();
    for (const locale of LOCALES) {
      const dev = await signedIn(browser, api().url, 'dev', people.dev.password, { locale });
      await dev.page.goto(`${api().url}/#/projects/${id}/tickets/new`);
      await expect.poll(() => dev.page.locator('[data-testid=paths-help] code').textContent()).toBe(svn.url);
      const paths = dev.page.locator('#paths');
      const suggestions = dev.page.locator('[data-testid=path-suggestions] button');
      await paths.fill('www/');
      await expect
        .poll(() => suggestions.allTextContents())
        .toEqual(['www/css/', 'www/img/', 'www/about.html', 'www/index.html']);
      await suggestions.filter({ hasText: 'www/css/' }).click();
      await expect.poll(() => suggestions.allTextContents()).toEqual(['www/css/site.css']);
      await suggestions.first().click();
      expect(await paths.inputValue()).toBe('www/css/site.css');
      // A path with one part too many in front (the source URL already ends in it) is found before any staging.
      await paths.press('End');
      await paths.pressSequentially('\ntrunk/www/about.html');
      const unknown = dev.page.locator('[data-testid=path-unknown]');
      await expect.poll(() => unknown.textContent(), { timeout: 10_000 }).toContain('trunk/www/about.html');
      await dev.page.screenshot({ path: join(artifactsDir, `path-field-${locale}.png`), fullPage: true });
      await unknown.locator('[data-testid=path-meant]').click();
      expect(await paths.inputValue()).toBe('www/css/site.css\nwww/about.html');
      await expect.poll(() => unknown.count()).toBe(0);
      await close(dev);
    }
  }, 90_000);

  it('is fed by stagingPaths: developers and up, checked, the exact one first, following each staging', async () => {
    const id = await project();
    const query = 'query($p: ID!, $x: String!, $n: Int) { stagingPaths(projectId: $p, prefix: $x, first: $n) }';
    const list = async (prefix: string, first = 50) =>
      (await ok(api(), people.dev.token, query, { p: id, x: prefix, n: first })).stagingPaths;
    expect(await list('')).toEqual([
      'www/',
      'www/css/',
      'www/img/',
      'www/about.html',
      'www/css/site.css',
      'www/img/logo.txt',
      'www/index.html',
    ]);
    expect(await list('www/css', 1)).toEqual(['www/css/']);
    expect(await list('www/c')).toEqual(['www/css/', 'www/css/site.css']);
    expect(await list('www/img/logo.txt')).toEqual(['www/img/logo.txt']);
    // Someone who is not a member of the project is told no.
    await ok(
      api(),
      people.admin.token,
      'mutation { createUser(input: { login: "outsider", name: "Outsider", password: "outsider password" }) { id } }',
    );
    const outsider = await signInAgain('outsider', 'outsider password');
    const refused = await world.api.gql(query, { p: id, x: '' }, { token: outsider.token });
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const bad = await world.api.gql(query, { p: id, x: '../etc' }, { token: people.dev.token });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'prefix' });
    // A file new in the source is listed once a ticket brought it to staging; one deleted there goes.
    await svn.commit('new page', { 'www/new.html': 'new\n' });
    const ticket = await submitTicket(api(), people.dev.token, id, 'a new page', ['www/new.html']);
    await waitForState(api(), people.dev.token, ticket, 'AWAITING_TEST');
    expect(await list('www/n')).toEqual(['www/new.html']);
    await ok(api(), people.dev.token, 'mutation($id: ID!) { cancelTicket(id: $id) { id } }', { id: ticket });
  }, 60_000);
});

describe('an admin who is not a member of a one-lead project', () => {
  it('approves the lead’s rollback and rolls back, the page saying who may approve (both languages)', async () => {
    const id = await project();
    await release('www/index.html', 'index 1\n');
    const second = await release('www/index.html', 'index 2\n');
    for (const [n, locale] of LOCALES.entries()) {
      if (n > 0) await release('www/index.html', `index ${n + 2}\n`);
      const lead = await signedIn(browser, api().url, 'lead', people.lead.password, { locale });
      const admin = await signedIn(browser, api().url, 'admin', people.admin.password, { locale });
      // The lead asks in the releases page for the rollback to v1.
      await lead.page.goto(`${api().url}/#/projects/${id}/releases`);
      const v1 = lead.page.locator('[data-testid=releases] tr', {
        has: lead.page.locator('td strong', { hasText: /^v1$/ }),
      });
      await v1.getByTestId('rollback').click();
      const reason = locale === 'en' ? 'the new index breaks checkout' : '新首页导致无法下单';
      await lead.page.fill('[data-testid=dialog-comment]', reason);
      await lead.page.click('[data-testid=dialog-confirm]');
      await lead.page.waitForURL(/#\/tickets\/\d+$/);
      const ticketUrl = lead.page.url();
      // The only lead asked: the page says that another lead must approve, and that an admin can.
      const who = lead.page.locator('[data-testid=who-approves]');
      await who.waitFor();
      for (const words of locale === 'en'
        ? ['an admin can', 'Another lead must approve']
        : ['管理员可以审批', '需要另一位负责人审批'])
        expect(await who.textContent()).toContain(words);
      expect(await lead.page.locator('button[data-action=APPROVE]').count()).toBe(0);
      // A rollback has no staging site to open.
      expect(await lead.page.locator('a[href="http://staging.example.test/"]').count()).toBe(0);
      // The admin sees the lead's buttons.
      await admin.page.goto(ticketUrl);
      const approve = admin.page.locator('button[data-action=APPROVE]');
      await approve.waitFor();
      await admin.page.screenshot({
        path: join(artifactsDir, `admin-approves-rollback-${locale}.png`),
        fullPage: true,
      });
      await approve.click();
      await expect.poll(() => stateOf(admin.page)).toBe('APPROVED');
      await expect.poll(() => stateOf(lead.page)).toBe('APPROVED');
      await admin.page.click('button[data-action=DEPLOY]');
      await expect
        .poll(() => admin.page.locator('.dialog-title').textContent())
        .toMatch(locale === 'en' ? /^Roll back to v1 \(ticket #\d+\)$/ : /^回滚到 v1（更新单 #\d+）$/);
      await admin.page.click('[data-testid=dialog-confirm]');
      await expect.poll(() => stateOf(admin.page), { timeout: 30_000 }).toBe('DEPLOYED');
      // The audit shows the lead's reason beside the request; the chats say "rolled back", not "is live".
      await expect
        .poll(() => lead.page.locator('[data-testid=audit-trail] tbody tr').first().textContent())
        .toContain(reason);
      const ticketId = ticketUrl.split('/').pop();
      const ding = await waitFor(
        async () => received.filter((r) => r.path === '/dingtalk' && r.body.markdown?.title.includes(`#${ticketId} `)),
        (found) => found.length > 0,
      );
      expect(ding[0]?.body.markdown?.title).toBe(`[shop] #${ticketId} 已回滚`);
      expect(ding[0]?.body.markdown?.text).toMatch(/已从 v\d+ 回滚到 v1/);
      const hook = await waitFor(
        async () => received.filter((r) => r.path === '/webhook' && r.body.title?.includes(`#${ticketId} `)),
        (found) => found.length > 0,
      );
      expect(hook[0]?.body.title).toBe(`[shop] #${ticketId} rolled back`);
      // A program reads plain lines: no Markdown.
      for (const line of hook[0]?.body.lines ?? []) expect(line).not.toMatch(/\*\*|`/);
      expect(hook[0]?.body.lines).toContainEqual(expect.stringMatching(/^Comment: rolled back from v\d+ to v1$/));

      // On the releases page the admin has the lead's controls; a version a rollback took off offers no rollback.
      await admin.page.goto(`${api().url}/#/projects/${id}/releases`);
      await admin.page.waitForSelector('[data-testid=verify]');
      const rolledBack = admin.page.locator('[data-testid=releases] tr', {
        hasText: locale === 'en' ? 'rolled back' : '已回滚',
      });
      await expect.poll(() => rolledBack.count()).toBeGreaterThan(0);
      expect(await rolledBack.getByRole('button').count()).toBe(0);
      await close(lead, admin);
    }
    expect((await releases()).map((r) => r.tag)).toContain('v2');
    expect(second).toBeTruthy();
  }, 180_000);
});

describe('the output pane', () => {
  it('shows the ticket’s own jobs, each tab in its job’s state, and stays on the one chosen', async () => {
    const id = await project();
    await svn.commit('pane', { 'www/about.html': 'about 1\n' });
    const ticket = await submitTicket(api(), people.dev.token, id, 'about page', ['www/about.html']);
    await waitForState(api(), people.dev.token, ticket, 'AWAITING_TEST');
    await ok(api(), people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id: ticket });
    await ok(api(), people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id: ticket });
    const dev = await signedIn(browser, api().url, 'dev', people.dev.password);
    await dev.page.goto(`${api().url}/#/tickets/${ticket}`);
    const tabs = dev.page.locator('[data-testid=job-tab]');
    await tabs.first().waitFor();
    // The person picks the staging output; a deploy someone else starts does not take the pane away from it.
    await tabs.filter({ hasText: 'Staging' }).click();
    await underLoad(async () => {
      await ok(api(), people.lead.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id: ticket });
      await expect.poll(() => stateOf(dev.page), { timeout: 30_000 }).toBe('DEPLOYED');
      await expect
        .poll(() => tabs.filter({ hasText: 'Deploy' }).getAttribute('data-state'), { timeout: 20_000 })
        .toBe('SUCCEEDED');
    });
    expect(await tabs.filter({ hasText: 'Staging' }).getAttribute('aria-pressed')).toBe('true');
    // Deliveries to the channels happened for this ticket, but they are the channel's, not the ticket's tabs.
    const deliveries = await waitFor(
      () =>
        world.database.db
          .select()
          .from(jobs)
          .where(and(eq(jobs.ticketId, Number(ticket)), eq(jobs.kind, 'WEBHOOK'))),
      (rows) => rows.length >= 2,
    );
    expect(deliveries.length).toBeGreaterThanOrEqual(2);
    const own = await ok(api(), people.dev.token, 'query($id: ID!) { ticket(id: $id) { jobs { id kind state } } }', {
      id: ticket,
    });
    const kinds = (jobs: { kind: string; state: string }[]) => jobs.map((job) => `${job.kind}:${job.state}`).join(' ');
    await expect
      .poll(async () =>
        kinds(
          await tabs.evaluateAll((els) =>
            els.map((el) => ({ kind: el.dataset.kind ?? '', state: el.dataset.state ?? '' })),
          ),
        ),
      )
      .toBe(kinds(own.ticket.jobs.filter((job: { kind: string }) => job.kind !== 'WEBHOOK')));
    expect(await dev.page.locator('[data-testid=job-tab][data-kind=WEBHOOK]').count()).toBe(0);
    await dev.page.screenshot({ path: join(artifactsDir, 'output-pane-en.png'), fullPage: true });
    await close(dev);
  }, 90_000);
});

describe('the drift view', () => {
  it('updates by itself when a verification ends, and the Chinese chat names the change in Chinese', async () => {
    const id = await project();
    for (const locale of LOCALES) {
      const lead = await signedIn(browser, api().url, 'lead', people.lead.password, { locale });
      await lead.page.goto(`${api().url}/#/projects/${id}/releases`);
      const web1 = lead.page
        .locator('[data-testid=target-row]', { hasText: 'web-1' })
        .locator('[data-testid=verification-state]');
      await web1.waitFor();
      const index = join(world.dir, 'web-1', 'www/index.html');
      const was = await readFile(index, 'utf8');
      await writeFile(index, 'changed by hand\n');
      const before = received.length;
      // Someone else verifies (or the schedule does): the open page shows the outcome without a reload.
      await ok(api(), people.admin.token, 'mutation($p: ID!) { verifyTargets(projectId: $p) { id } }', { p: id });
      await expect
        .poll(() => web1.textContent(), { timeout: 20_000 })
        .toMatch(locale === 'en' ? /drifted: 1 file/ : /有偏差：1 个文件/);
      await lead.page.screenshot({ path: join(artifactsDir, `drift-live-${locale}.png`), fullPage: true });
      const ding = await waitFor(
        async () => received.slice(before).filter((r) => r.path === '/dingtalk'),
        (found) => found.length > 0,
      );
      expect(ding[0]?.body.markdown?.text).toContain('目标机上被修改 `www/index.html`');
      expect(ding[0]?.body.markdown?.text).not.toMatch(/MODIFIED|ADDED|DELETED/);
      const hook = await waitFor(
        async () => received.slice(before).filter((r) => r.path === '/webhook'),
        (found) => found.length > 0,
      );
      expect(hook[0]?.body.lines).toContainEqual('- changed on the target www/index.html');
      await writeFile(index, was);
      await ok(api(), people.admin.token, 'mutation($p: ID!) { verifyTargets(projectId: $p) { id } }', { p: id });
      await expect.poll(() => web1.textContent(), { timeout: 20_000 }).toBe(locale === 'en' ? 'in sync' : '一致');
      await close(lead);
    }
  }, 90_000);
});

describe('on a phone (390 × 844)', () => {
  it('keeps the rollback column, the targets table and the ticket list on screen (both languages)', async () => {
    const id = await project();
    for (const locale of LOCALES) {
      const lead = await signedIn(browser, api().url, 'lead', people.lead.password, {
        locale,
        width: 390,
        height: 844,
      });
      await lead.page.goto(`${api().url}/#/projects/${id}/releases`);
      const rollback = lead.page.locator('[data-testid=releases] button').first();
      await rollback.waitFor();
      const box = await rollback.boundingBox();
      expect((box?.x ?? 999) + (box?.width ?? 0)).toBeLessThanOrEqual(390);
      expect(await noSidewaysScroll(lead.page)).toBe(true);
      await lead.page.screenshot({ path: join(artifactsDir, `phone-releases-${locale}.png`), fullPage: true });

      // The ticket list: its filters fold under one line, the list is on the first screen.
      await lead.page.goto(`${api().url}/#/projects/${id}`);
      const list = lead.page.locator('[data-testid=ticket-list]');
      await list.locator('tbody tr').first().waitFor();
      expect(await lead.page.locator('[data-testid=more-filters]').getAttribute('open')).toBeNull();
      expect((await list.boundingBox())?.y ?? 9999).toBeLessThan(600);
      expect(await noSidewaysScroll(lead.page)).toBe(true);
      await lead.page.screenshot({ path: join(artifactsDir, `phone-tickets-${locale}.png`) });
      await lead.page.click('[data-testid=more-filters] > summary');
      await lead.page.locator('[data-testid=only-mine]').check();
      await close(lead);

      // The admin's targets: "where" reads as a path, the buttons are whole and on screen.
      const admin = await signedIn(browser, api().url, 'admin', people.admin.password, {
        locale,
        width: 390,
        height: 844,
      });
      await admin.page.goto(`${api().url}/#/projects/${id}/settings`);
      const row = admin.page.locator('[data-testid=targets] tbody tr').first();
      await row.waitFor();
      const where = row.locator('td.path');
      expect((await where.boundingBox())?.width ?? 0).toBeGreaterThan(250);
      for (const button of await row.locator('button').all()) {
        const edge = await button.boundingBox();
        expect((edge?.x ?? 999) + (edge?.width ?? 0)).toBeLessThanOrEqual(390);
      }
      expect(await noSidewaysScroll(admin.page)).toBe(true);
      await admin.page.locator('[data-testid=targets]').scrollIntoViewIfNeeded();
      await admin.page.screenshot({ path: join(artifactsDir, `phone-targets-${locale}.png`) });
      await close(admin);
    }
  }, 90_000);
});

describe('the project settings page', () => {
  it('has its own address and sections; admins change everything, leads notifications and freezes (both languages)', async () => {
    const id = await project();
    for (const locale of LOCALES) {
      const admin = await signedIn(browser, api().url, 'admin', people.admin.password, { locale });
      await admin.page.goto(`${api().url}/#/projects/${id}/settings`);
      for (const section of ['general', 'environments', 'deploy', 'notifications', 'verification', 'freeze', 'members'])
        await admin.page.locator(`#section-${section}`).waitFor();
      await admin.page.locator('[data-testid=channels] li').first().waitFor();
      await admin.page.screenshot({ path: join(artifactsDir, `settings-${locale}.png`), fullPage: true });
      // A setting saved in its section; a wrong one said at its field.
      const deploy = admin.page.locator('#section-deploy');
      await deploy.locator('input[name=keepReleases]').fill('0');
      await admin.page.click('[data-testid=save-deploy]');
      await expect.poll(() => deploy.locator('[role=alert]').count()).toBe(1);
      await deploy.locator('input[name=keepReleases]').fill(locale === 'en' ? '7' : '8');
      await admin.page.click('[data-testid=save-deploy]');
      await expect.poll(() => deploy.locator('[role=status]').count()).toBe(1);
      await close(admin);

      const lead = await signedIn(browser, api().url, 'lead', people.lead.password, { locale });
      await lead.page.goto(`${api().url}/#/projects/${id}/settings`);
      await lead.page.locator('#section-notifications').waitFor();
      expect(await lead.page.locator('#section-general, #section-deploy, #section-members').count()).toBe(0);
      await lead.page.locator('#section-freeze').waitFor();
      await close(lead);
    }
    const settings = await ok(api(), people.admin.token, 'query($id: ID!) { project(id: $id) { keepReleases } }', {
      id,
    });
    expect(settings.project.keepReleases).toBe(8);
  }, 90_000);

  it('moves the source and the staging copy: refused while tickets are open, then checked out anew', async () => {
    const id = await project();
    const move = 'mutation($id: ID!, $i: UpdateProjectInput!) { updateProject(id: $id, input: $i) { id ready } }';
    const open = await submitTicket(api(), people.dev.token, id, 'still open', ['www/img/logo.txt']);
    const refused = await world.api.gql(
      move,
      { id, i: { stagingPath: join(world.dir, 'staging-2') } },
      { token: people.admin.token },
    );
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.stagingPath',
      problem: 'openTickets',
    });
    await waitForState(api(), people.dev.token, open, 'AWAITING_TEST');
    await ok(api(), people.dev.token, 'mutation($id: ID!) { cancelTicket(id: $id) { id } }', { id: open });
    // The same repository at another URL (a new server name): the working copy is relocated, not checked out again.
    const link = join(world.dir, 'svn-moved');
    await symlink(join(world.dir, 'svn', 'svnrepo'), link);
    const moved = `file://${link}`;
    await ok(api(), people.admin.token, move, {
      id,
      i: { sourceUrl: moved, stagingPath: join(world.dir, 'staging-2') },
    });
    await waitFor(
      () => ok(api(), people.admin.token, 'query($id: ID!) { project(id: $id) { ready initError } }', { id }),
      (d) => d.project.ready || d.project.initError,
      60_000,
    );
    const { stdout } = await execa('svn', ['info', '--show-item', 'url', join(world.dir, 'staging-2')]);
    expect(stdout.trim()).toBe(moved);
    const listed = await ok(
      api(),
      people.dev.token,
      'query($p: ID!) { stagingPaths(projectId: $p, prefix: "www/i") }',
      { p: id },
    );
    expect(listed.stagingPaths).toEqual(['www/img/', 'www/index.html', 'www/img/logo.txt']);
    // And it still releases.
    await release('www/about.html', 'about 2\n');
  }, 120_000);
});

import { createHmac } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { jobLogLines, jobs, notificationChannels, SecretBox, sealStoredSecrets } from '@slipway/schema';
import { asc, eq, inArray } from 'drizzle-orm';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from './support/api.ts';
import { artifactsDir, launchBrowser, signedIn } from './support/browser.ts';
import { TEST_SECRET_KEY, type TestDatabase } from './support/db.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, submitTicket, waitFor, waitForState } from './support/flow.ts';
import { createReadyProject } from './support/project.ts';
import { SvnRepo } from './support/svn.ts';
import { createWorld, type World } from './support/world.ts';

type Login = 'dev' | 'lead';
let world: World<Login>;
let dir: string;
let database: TestDatabase;
let api: TestApi;
let worker: Worker;
let people: World<Login>['people'];
let projectId: string;
let repo: SvnRepo;

interface Received {
  path: string;
  query: URLSearchParams;
  // biome-ignore lint/suspicious/noExplicitAny: each vendor's body is read field by field
  body: any;
}
const received: Received[] = [];
const mails: { to: string[]; raw: string }[] = [];
let receiverUrl = '';
let smtp: SMTPServer;
let http: ReturnType<typeof createServer>;

const DINGTALK_SECRET = 'SEC0123456789abcdef';
const FEISHU_SECRET = 'feishu-signing-secret';

beforeAll(async () => {
  world = await createWorld('notify', ['dev', 'lead']);
  ({ dir, database, api, people } = world);
  // The vendors' robots, as their documentation describes them: 200 with an error code in the body.
  http = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => {
      text += chunk;
    });
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      received.push({ path: url.pathname, query: url.searchParams, body: JSON.parse(text) });
      response.setHeader('content-type', 'application/json');
      if (url.pathname === '/bad') response.end(JSON.stringify({ errcode: 310000, errmsg: 'sign not match' }));
      else if (url.pathname === '/feishu') response.end(JSON.stringify({ code: 0, msg: 'success' }));
      else if (url.pathname === '/slack') response.end('ok');
      else response.end(JSON.stringify({ errcode: 0, errmsg: 'ok' }));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (chunk) => {
        raw += chunk;
      });
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  worker = await startTestWorker(database, join(dir, 'data'), {
    smtpUrl: `smtp://127.0.0.1:${smtpPort}`,
    mailFrom: 'Slipway <slipway@example.test>',
  });
  await mkdir(join(dir, 'svn'), { recursive: true });
  repo = await SvnRepo.create(join(dir, 'svn'), { 'www/index.html': 'one\n' });
  projectId = await createReadyProject(api, people.admin, {
    name: 'notified',
    sourceUrl: repo.url,
    stagingPath: join(dir, 'staging'),
    settings: {},
    targets: [{ name: 'local', path: join(dir, 'target') }],
    members: [
      { user: people.dev, role: 'DEVELOPER' },
      { user: people.lead, role: 'LEAD' },
    ],
  });
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  http?.close();
  await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
  await world?.close();
});

const ADD = `mutation($p: ID!, $i: NotificationChannelInput!) {
  addNotificationChannel(projectId: $p, input: $i) { id kind signed events language } }`;

describe('notification channels', () => {
  it('are managed by leads only', async () => {
    const input = { kind: 'WECOM', name: 'ops', url: `${receiverUrl}/wecom`, events: ['DEPLOYED'] };
    const byDev = await api.gql(ADD, { p: projectId, i: input }, { token: people.dev.token });
    expect(byDev.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const noUrl = await api.gql(ADD, { p: projectId, i: { ...input, url: null } }, { token: people.lead.token });
    expect(noUrl.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.url' });
    const noEvents = await api.gql(ADD, { p: projectId, i: { ...input, events: [] } }, { token: people.lead.token });
    expect(noEvents.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.events' });
    const list = await api.gql(
      'query($id: ID!) { project(id: $id) { notificationChannels { id } } }',
      { id: projectId },
      {
        token: people.dev.token,
      },
    );
    expect(list.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('tell DingTalk, Feishu, WeCom, Slack and e-mail, each as the vendor documents it, in the channel language', async () => {
    const events = ['SUBMITTED', 'STAGED', 'FREEZE_STARTED'];
    const channels = [
      {
        kind: 'DINGTALK',
        name: 'dingtalk',
        url: `${receiverUrl}/dingtalk?access_token=abc`,
        secret: DINGTALK_SECRET,
        events,
      },
      {
        kind: 'FEISHU',
        name: 'feishu',
        url: `${receiverUrl}/feishu`,
        secret: FEISHU_SECRET,
        events,
        language: 'ZH_CN',
      },
      { kind: 'WECOM', name: 'wecom', url: `${receiverUrl}/wecom?key=k`, events },
      { kind: 'SLACK', name: 'slack', url: `${receiverUrl}/slack`, events },
      { kind: 'EMAIL', name: 'mail', events, emailTo: ['lead@example.test', 'ops@example.test'] },
      { kind: 'WECOM', name: 'deploys only', url: `${receiverUrl}/deploys-only`, events: ['DEPLOYED'] },
    ];
    for (const i of channels) await ok(api, people.lead.token, ADD, { p: projectId, i });

    await repo.commit('two', { 'www/index.html': 'two\n' });
    const id = await submitTicket(api, people.dev.token, projectId, 'new front page', ['www/index.html']);
    await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
    await waitFor(
      async () => received.length + mails.length,
      (n) => n >= 10,
    );
    const at = (path: string) => received.filter((r) => r.path === path);

    // DingTalk: markdown; the URL signed with timestamp and sign = Base64(HMAC-SHA256(secret, timestamp\nsecret)).
    const ding = at('/dingtalk');
    expect(ding).toHaveLength(2);
    for (const r of ding) {
      const timestamp = r.query.get('timestamp') as string;
      expect(Math.abs(Number(timestamp) - Date.now())).toBeLessThan(60_000);
      const expected = createHmac('sha256', DINGTALK_SECRET)
        .update(`${timestamp}\n${DINGTALK_SECRET}`)
        .digest('base64');
      expect(r.query.get('sign')).toBe(expected);
      expect(r.query.get('access_token')).toBe('abc');
      expect(r.body.msgtype).toBe('markdown');
    }
    expect(ding[0]?.body.markdown.title).toBe(`[notified] #${id} submitted`);
    expect(ding[0]?.body.markdown.text).toContain('new front page');
    expect(ding[0]?.body.markdown.text).toContain('dev');
    expect(ding[0]?.body.markdown.text).toContain(`(http://slipway.example.test/#/tickets/${id})`);
    expect(ding[1]?.body.markdown.title).toBe(`[notified] #${id} is on staging, ready to test`);

    // Feishu: an interactive card, signed in the body with key timestamp\nsecret over an empty message; in Chinese.
    const feishu = at('/feishu');
    expect(feishu).toHaveLength(2);
    const first = feishu[0]?.body;
    expect(first.msg_type).toBe('interactive');
    expect(first.sign).toBe(createHmac('sha256', `${first.timestamp}\n${FEISHU_SECRET}`).update('').digest('base64'));
    expect(first.card.header.title.content).toBe(`[notified] #${id} 已提交`);
    expect(first.card.elements[0].content).toContain('在 Slipway 中查看');
    // The executor's own words come in the channel's language too ("revision 2" → "版本 r2").
    expect(feishu[1]?.body.card.elements[0].content).toMatch(/\*\*备注\*\*: 版本 r\d+\n/);
    expect(ding[1]?.body.markdown.text).toMatch(/\*\*Comment\*\*: revision \d+\n/);

    expect(at('/wecom').map((r) => r.body.msgtype)).toEqual(['markdown', 'markdown']);
    expect(at('/wecom')[0]?.body.markdown.content).toContain('new front page');
    expect(at('/slack')[0]?.body.text).toBe(`[notified] #${id} submitted`);
    expect(at('/slack')[0]?.body.blocks[0].text.type).toBe('mrkdwn');
    expect(at('/deploys-only')).toEqual([]);

    expect(mails).toHaveLength(2);
    expect(mails[0]?.to).toEqual(['lead@example.test', 'ops@example.test']);
    expect(mails[0]?.raw).toMatch(/Subject: \[notified\] #\d+ submitted/);

    // A freeze is news too.
    await ok(
      api,
      people.lead.token,
      'mutation($p: ID!) { freezeProject(projectId: $p, reason: "audit week") { id } }',
      {
        p: projectId,
      },
    );
    await waitFor(
      async () => at('/wecom').length,
      (n) => n >= 3,
    );
    expect(at('/wecom')[2]?.body.markdown.content).toContain('Deploys are frozen');
    expect(at('/wecom')[2]?.body.markdown.content).toContain('audit week');
    await ok(api, people.lead.token, 'mutation($p: ID!) { unfreezeProject(projectId: $p) { id } }', { p: projectId });
  }, 60_000);

  it('send a test message once and show what the receiver answered, an error code included', async () => {
    const bad = await ok(api, people.lead.token, ADD, {
      p: projectId,
      i: { kind: 'DINGTALK', name: 'wrong secret', url: `${receiverUrl}/bad`, secret: 'nope', events: ['DEPLOYED'] },
    });
    const started = await ok(api, people.lead.token, 'mutation($id: ID!) { testNotificationChannel(id: $id) { id } }', {
      id: bad.addNotificationChannel.id,
    });
    const jobId = Number(started.testNotificationChannel.id);
    const [job] = await waitFor(
      () => database.db.select().from(jobs).where(eq(jobs.id, jobId)),
      ([row]) => row?.state === 'FAILED' || row?.state === 'SUCCEEDED',
    );
    expect(job?.state).toBe('FAILED');
    expect(job?.attempts).toBe(1);
    expect(job?.lastError).toMatch(/answered error 310000: sign not match/);
    const log = await database.db
      .select({ text: jobLogLines.text })
      .from(jobLogLines)
      .where(eq(jobLogLines.jobId, jobId))
      .orderBy(asc(jobLogLines.seq));
    expect(log.map((l) => l.text)).toContainEqual(expect.stringContaining('answered 200: {"errcode":310000'));
    expect(at('/bad')[0]?.body.markdown.title).toBe('[notified] Test message from Slipway');
  });

  it('keep URLs and signing secrets sealed at rest, and use ones stored in plain text before they were', async () => {
    const given = await database.db
      .select({ name: notificationChannels.name, url: notificationChannels.url, secret: notificationChannels.secret })
      .from(notificationChannels)
      .where(inArray(notificationChannels.name, ['dingtalk', 'feishu']));
    expect(given).toHaveLength(2);
    for (const { url, secret } of given) {
      // The URL too: a robot's URL carries its key (access_token=abc).
      for (const value of [url, secret]) {
        expect(value).toMatch(/^v1:/);
        for (const plain of [DINGTALK_SECRET, FEISHU_SECRET, 'access_token', receiverUrl])
          expect(value).not.toContain(plain);
      }
    }
    // Leads read them as they were given.
    const listed = await ok(
      api,
      people.lead.token,
      'query($id: ID!) { project(id: $id) { notificationChannels { name url } } }',
      {
        id: projectId,
      },
    );
    expect(listed.project.notificationChannels).toContainEqual({
      name: 'dingtalk',
      url: `${receiverUrl}/dingtalk?access_token=abc`,
    });
    // A channel an earlier version stored with its secret as given.
    const [legacy] = await database.db
      .insert(notificationChannels)
      .values({
        projectId: Number(projectId),
        kind: 'DINGTALK',
        name: 'stored before sealing',
        url: `${receiverUrl}/legacy`,
        secret: 'SEClegacy',
        events: ['DEPLOYED'],
      })
      .returning();
    const signs = async () => {
      const started = await ok(
        api,
        people.lead.token,
        'mutation($id: ID!) { testNotificationChannel(id: $id) { id } }',
        {
          id: legacy?.id,
        },
      );
      const [job] = await waitFor(
        () =>
          database.db
            .select()
            .from(jobs)
            .where(eq(jobs.id, Number(started.testNotificationChannel.id))),
        ([row]) => row?.state === 'FAILED' || row?.state === 'SUCCEEDED',
      );
      expect(job?.state).toBe('SUCCEEDED');
      const last = at('/legacy').at(-1);
      const timestamp = last?.query.get('timestamp');
      return (
        last?.query.get('sign') === createHmac('sha256', 'SEClegacy').update(`${timestamp}\nSEClegacy`).digest('base64')
      );
    };
    expect(await signs()).toBe(true);
    // The server's start seals it (here called as the start calls it), and it signs the same.
    expect(await sealStoredSecrets(database.db, SecretBox.fromPassphrase(TEST_SECRET_KEY))).toBe(2);
    const [row] = await database.db
      .select({ url: notificationChannels.url, secret: notificationChannels.secret })
      .from(notificationChannels)
      .where(eq(notificationChannels.id, legacy?.id as number));
    expect(row?.url).toMatch(/^v1:/);
    expect(row?.secret).toMatch(/^v1:/);
    expect(await signs()).toBe(true);
    expect(at('/legacy')).toHaveLength(2);
  });
});

describe('the people a ticket waits for', () => {
  const UPDATE_ME = `mutation($i: UpdateMeInput!) { updateMe(input: $i) { name email mobile } }`;

  it('keep their own name, e-mail and mobile, checked', async () => {
    const me = await ok(api, people.lead.token, UPDATE_ME, {
      i: { name: 'Lena Lead', email: 'lena@example.test', mobile: '+86 138-0000-0001' },
    });
    expect(me.updateMe).toEqual({ name: 'Lena Lead', email: 'lena@example.test', mobile: '+8613800000001' });
    const badMobile = await api.gql(UPDATE_ME, { i: { mobile: 'call me' } }, { token: people.dev.token });
    expect(badMobile.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.mobile' });
    const badMail = await api.gql(UPDATE_ME, { i: { email: 'dev at home' } }, { token: people.dev.token });
    expect(badMail.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.email' });
    await ok(api, people.dev.token, UPDATE_ME, { i: { email: 'dev@example.test', mobile: '13900000002' } });
    const cleared = await ok(api, people.dev.token, UPDATE_ME, { i: { mobile: '' } });
    expect(cleared.updateMe).toEqual({ name: expect.any(String), email: 'dev@example.test', mobile: null });
    // Someone else's contact details are not for everyone to read.
    const peek = await api.gql(
      'query($p: ID!) { project(id: $p) { members { user { login mobile } } } }',
      { p: projectId },
      { token: people.dev.token },
    );
    expect(peek.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('are mentioned in chats by mobile or e-mail and mailed, in the message that waits for them', async () => {
    const events = ['STAGED', 'APPROVED'];
    for (const i of [
      { kind: 'DINGTALK', name: 'ding mentions', url: `${receiverUrl}/ding-mention`, events },
      { kind: 'WECOM', name: 'wecom mentions', url: `${receiverUrl}/wecom-mention`, events },
      { kind: 'FEISHU', name: 'feishu mentions', url: `${receiverUrl}/feishu-mention`, events },
      { kind: 'EMAIL', name: 'mail the people concerned', events },
    ])
      await ok(api, people.lead.token, ADD, { p: projectId, i });
    const mailsBefore = mails.length;
    await repo.commit('three', { 'www/third.html': 'three\n' });
    const id = await submitTicket(api, people.dev.token, projectId, 'third page', ['www/third.html']);
    await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
    const at = (path: string) => received.filter((r) => r.path === path);
    await waitFor(
      async () => at('/ding-mention').length + at('/wecom-mention').length + at('/feishu-mention').length,
      (n) => n >= 3,
    );
    // No tester in the project: the staged ticket waits for its lead (not for its author).
    const ding = at('/ding-mention')[0]?.body;
    expect(ding.at).toEqual({ atMobiles: ['+8613800000001'], isAtAll: false });
    expect(ding.markdown.text).toContain('@+8613800000001');
    expect(ding.markdown.text).toContain('**Waiting for**: Lena Lead');
    const wecom = at('/wecom-mention')[0]?.body;
    expect(wecom.msgtype).toBe('text');
    expect(wecom.text.mentioned_mobile_list).toEqual(['+8613800000001']);
    expect(wecom.text.content).toContain('third page');
    expect(at('/feishu-mention')[0]?.body.card.elements[0].content).toContain('<at email=lena@example.test></at>');
    // The channel with no fixed addresses mails the lead alone; the older one adds the lead to its own list.
    const staged = await waitFor(
      async () => mails.slice(mailsBefore).filter((m) => /ready to test/.test(m.raw)),
      (found) => found.length >= 2,
    );
    expect(staged.map((m) => m.to)).toContainEqual(['lena@example.test']);
    expect(staged.map((m) => m.to)).toContainEqual(['lead@example.test', 'ops@example.test', 'lena@example.test']);

    // Approved: now it waits for its author to deploy; the author has a mail address but no mobile.
    await ok(api, people.lead.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    await waitFor(
      async () => at('/ding-mention').length,
      (n) => n >= 2,
    );
    const approved = at('/ding-mention')[1]?.body;
    expect(approved.markdown.title).toContain('approved');
    expect(approved.at).toBeUndefined();
    expect(approved.markdown.text).toMatch(/\*\*Waiting for\*\*: \S/);
    const mailed = await waitFor(
      async () => mails.slice(mailsBefore).filter((m) => /approved/.test(m.raw)),
      (found) => found.length >= 1,
    );
    expect(mailed.map((m) => m.to)).toContainEqual(['dev@example.test']);
  }, 60_000);
});

describe('notification channels in the console', () => {
  it('a lead adds a channel on the settings page, edits it, sends a test message and reads the answer', async () => {
    const browser = await launchBrowser();
    try {
      const lead = await signedIn(browser, api.url, 'lead', people.lead.password, { locale: 'zh-CN' });
      // The releases page keeps versions, rollbacks and drift; it links to the settings.
      await lead.page.goto(`${api.url}/#/projects/${projectId}/releases`);
      await lead.page.click('[data-testid=settings-link]');
      await lead.page.waitForURL(new RegExp(`#/projects/${projectId}/settings$`));
      await lead.page.getByRole('button', { name: '添加通道' }).waitFor();
      expect(await lead.page.locator('[data-testid=releases]').count()).toBe(0);
      const form = lead.page.locator('[data-testid=channel-form]');
      await form.locator('select[name=kind]').selectOption('WECOM');
      await form.getByLabel('名称').fill('console wecom');
      await form.getByLabel('机器人或 Webhook 地址').fill(`${receiverUrl}/wrong-path`);
      await lead.page.getByRole('button', { name: '添加通道' }).click();
      const row = lead.page.locator('[data-testid=channels] li', { hasText: 'console wecom' });
      await row.waitFor();
      // Everything the API accepts is editable: the URL corrected, one more event.
      await row.locator('[data-testid=edit-channel]').click();
      await expect.poll(() => form.locator('input[name=url]').inputValue()).toBe(`${receiverUrl}/wrong-path`);
      await form.locator('input[name=url]').fill(`${receiverUrl}/from-console`);
      await form.locator('label', { hasText: '已上线' }).locator('input').uncheck();
      await form.locator('label', { hasText: '发现偏差' }).locator('input').check();
      await form.getByRole('button', { name: '保存' }).click();
      await expect.poll(() => row.textContent()).toContain('发现偏差');
      const stored = await ok(
        api,
        people.lead.token,
        'query($id: ID!) { project(id: $id) { notificationChannels { name url events } } }',
        { id: projectId },
      );
      const edited = stored.project.notificationChannels.find((c: { name: string }) => c.name === 'console wecom');
      expect(edited.url).toBe(`${receiverUrl}/from-console`);
      expect([...edited.events].sort()).toEqual(['APPROVED', 'DEPLOY_FAILED', 'DRIFT_DETECTED']);
      await row.getByRole('button', { name: '发送测试消息' }).click();
      await expect
        .poll(() => row.locator('[data-testid=channel-answer]').textContent(), { timeout: 20_000 })
        .toBe('已送达：接收方已接受');
      expect(at('/from-console')[0]?.body.msgtype).toBe('markdown');
      await lead.page.screenshot({ path: join(artifactsDir, 'channels-zh.png'), fullPage: true });
      expect(lead.errors).toEqual([]);

      // On a phone, each field of the form is under its label (not run together on one line), nothing off screen.
      for (const locale of ['en', 'zh-CN'] as const) {
        const phone = await signedIn(browser, api.url, 'lead', people.lead.password, {
          locale,
          width: 390,
          height: 844,
        });
        await phone.page.goto(`${api.url}/#/projects/${projectId}/settings`);
        const phoneForm = phone.page.locator('[data-testid=channel-form]');
        await phoneForm.waitFor();
        for (const name of ['kind', 'name', 'url', 'secret', 'language']) {
          // Both boxes from one layout: the page may still move (what loads above the form) between two reads.
          const [fieldBox, labelBox] = await phoneForm.evaluate((form, fieldName) => {
            const field = form.querySelector(`[name=${fieldName}]`);
            const box = (element: Element | null | undefined) => {
              if (!element) return null;
              const { x, y, width, height } = element.getBoundingClientRect();
              return { x, y, width, height };
            };
            return [box(field), box(field?.closest('label'))];
          }, name);
          // The label's words take the first line; the field starts on a line below them, at the label's left.
          expect(fieldBox && labelBox && fieldBox.y - labelBox.y, name).toBeGreaterThan(10);
          expect(fieldBox && labelBox && Math.abs(fieldBox.x - labelBox.x), name).toBeLessThan(2);
          expect((fieldBox?.x ?? 0) + (fieldBox?.width ?? 0), name).toBeLessThanOrEqual(390);
        }
        expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
        await phone.page.screenshot({ path: join(artifactsDir, `channels-phone-${locale}.png`), fullPage: true });
        expect(phone.errors).toEqual([]);
        await phone.context.close();
      }
    } finally {
      await browser.close();
    }
  }, 90_000);
});

function at(path: string) {
  return received.filter((r) => r.path === path);
}

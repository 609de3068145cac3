import { createHmac } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { notificationEvent } from '@slipway/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactsDir, launchBrowser, signedIn } from './support/browser.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, submitTicket, waitFor, waitForState } from './support/flow.ts';
import { createReadyProject } from './support/project.ts';
import { SvnRepo } from './support/svn.ts';
import { createWorld, type World } from './support/world.ts';

/** The webhook contract (PRODUCT.md, "Webhooks and tools"), checked by a real receiver. */
type Login = 'dev' | 'lead';
let world: World<Login>;
let worker: Worker;
let svn: SvnRepo;
let projectId: string;
const SECRET = 'the receiver’s key';

interface Request {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  // biome-ignore lint/suspicious/noExplicitAny: the body is read field by field against the contract
  body: any;
  answered: number;
}
const requests: Request[] = [];
/** Paths the receiver refuses (500) a number of times before it accepts. */
const refuse = new Map<string, number>();
let receiver: ReturnType<typeof createServer>;
let receiverUrl = '';

const ALL_EVENTS = notificationEvent.enumValues;

beforeAll(async () => {
  world = await createWorld('webhooks', ['dev', 'lead']);
  receiver = createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk) => {
      raw += chunk;
    });
    request.on('end', () => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      const left = refuse.get(path) ?? 0;
      const answered = left > 0 ? 500 : 200;
      if (left > 0) refuse.set(path, left - 1);
      requests.push({ path, headers: request.headers, raw, body: JSON.parse(raw), answered });
      response.writeHead(answered, { 'content-type': 'application/json' });
      response.end(answered === 200 ? '{"ok":true}' : '{"error":"the receiver is down"}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  await mkdir(join(world.dir, 'svn'), { recursive: true });
  svn = await SvnRepo.create(join(world.dir, 'svn'), { 'www/index.html': 'zero\n', 'www/b.html': 'b\n' });
  worker = await startTestWorker(world.database, join(world.dir, 'data'));
  projectId = await createReadyProject(world.api, world.people.admin, {
    name: 'hooked',
    sourceUrl: svn.url,
    stagingPath: join(world.dir, 'staging'),
    targets: [{ name: 'web', path: join(world.dir, 'web') }],
    members: [
      { user: world.people.dev, role: 'DEVELOPER' },
      { user: world.people.lead, role: 'LEAD' },
    ],
  });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  receiver?.close();
  await world?.close();
});

const api = () => world.api;
const at = (path: string) => requests.filter((r) => r.path === path);

const ADD_CHANNEL =
  'mutation($p: ID!, $i: NotificationChannelInput!) { addNotificationChannel(projectId: $p, input: $i) { id } }';
const HISTORY = `query($p: ID!) { project(id: $p) { notificationChannels { name deliveries(first: 50) {
  id event attempts status responseStatus responseBody error tries { responseStatus error } } } } }`;

async function history(name: string) {
  const data = await ok(api(), world.people.lead.token, HISTORY, { p: projectId });
  return data.project.notificationChannels.find((c: { name: string }) => c.name === name).deliveries as {
    id: string;
    event: string;
    attempts: number;
    status: string;
    responseStatus: number | null;
    responseBody: string | null;
    error: string | null;
    tries: { responseStatus: number | null; error: string | null }[];
  }[];
}

/** A release: filed and passed by the developer, approved by the lead, deployed by the developer. */
async function release(file: string, content: string): Promise<string> {
  await svn.commit(`change ${file}`, { [file]: content });
  const id = await submitTicket(api(), world.people.dev.token, projectId, `change ${file}`, [file]);
  await waitForState(api(), world.people.dev.token, id, 'AWAITING_TEST');
  await ok(api(), world.people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
  await ok(api(), world.people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id, comment: "fine") { id } }', {
    id,
  });
  await ok(api(), world.people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
  await waitForState(api(), world.people.dev.token, id, 'DEPLOYED', 30_000);
  return id;
}

describe('the webhook contract', () => {
  it('sends every event as JSON a program can route on, the same from a WEBHOOK channel and addWebhook, signed', async () => {
    await ok(api(), world.people.lead.token, ADD_CHANNEL, {
      p: projectId,
      i: { kind: 'WEBHOOK', name: 'program', url: `${receiverUrl}/channel`, secret: SECRET, events: ALL_EVENTS },
    });
    await ok(
      api(),
      world.people.admin.token,
      'mutation($p: ID!, $u: String!, $s: String) { addWebhook(projectId: $p, url: $u, secret: $s) { id } }',
      {
        p: projectId,
        u: `${receiverUrl}/hook`,
        s: SECRET,
      },
    );
    const id = await release('www/index.html', 'one\n');
    const cancelled = await submitTicket(api(), world.people.dev.token, projectId, 'never mind', ['www/b.html']);
    await ok(
      api(),
      world.people.dev.token,
      'mutation($id: ID!) { cancelTicket(id: $id, comment: "not needed") { id } }',
      {
        id: cancelled,
      },
    );
    const wanted = ['SUBMITTED', 'STAGED', 'TEST_PASSED', 'APPROVED', 'DEPLOYING', 'DEPLOYED'];
    for (const path of ['/channel', '/hook'])
      await waitFor(
        async () => at(path).map((r) => r.body.event),
        (events) => wanted.every((e) => events.includes(e)) && events.includes('CANCELLED'),
        30_000,
      );
    for (const request of [...at('/channel'), ...at('/hook')]) {
      const { body, headers } = request;
      // Routable: the event by name, in the body and a header; the delivery's id likewise.
      expect(headers['x-slipway-event']).toBe(body.event);
      expect(headers['x-slipway-delivery']).toBe(String(body.deliveryId));
      expect(headers['x-slipway-signature']).toBe(
        `sha256=${createHmac('sha256', SECRET).update(request.raw).digest('hex')}`,
      );
      expect(new Date(body.at).toISOString()).toBe(body.at);
      expect(body.project).toEqual({ id: Number(projectId), name: 'hooked' });
      expect(body.ticket).toMatchObject({ kind: 'RELEASE', author: { login: 'dev', name: 'dev' } });
      expect(body.environment).toEqual({ name: 'production' });
      expect(typeof body.title).toBe('string');
      for (const line of body.lines) expect(line).not.toMatch(/\*\*|`/);
      expect(body.url).toBe(`http://slipway.example.test/#/tickets/${body.ticket.id}`);
    }
    const fromChannel = (event: string) =>
      at('/channel').find((r) => r.body.ticket.id === Number(id) && r.body.event === event)?.body;
    const fromHook = (event: string) =>
      at('/hook').find((r) => r.body.ticket.id === Number(id) && r.body.event === event)?.body;
    expect(fromChannel('DEPLOYED')).toMatchObject({
      ticket: { id: Number(id), state: 'DEPLOYED', reason: 'change www/index.html', paths: ['www/index.html'] },
      release: { tag: 'v1' },
      actor: null,
      comment: 'v1 is live',
      title: `[hooked] #${id} is live`,
    });
    expect(fromChannel('APPROVED')).toMatchObject({
      ticket: { state: 'APPROVED' },
      actor: { login: 'lead', name: 'lead' },
      comment: 'fine',
    });
    expect(fromChannel('CANCELLED') ?? at('/channel').find((r) => r.body.event === 'CANCELLED')?.body).toMatchObject({
      ticket: { id: Number(cancelled), state: 'CANCELLED' },
      actor: { login: 'dev' },
      comment: 'not needed',
    });
    const sample = at('/channel').find((r) => r.body.ticket.id === Number(id) && r.body.event === 'DEPLOYED');
    await writeFile(
      join(artifactsDir, 'webhook-deployed.txt'),
      `${Object.entries(sample?.headers ?? {})
        .filter(([name]) => name.startsWith('x-slipway') || name === 'content-type')
        .map(([name, value]) => `${name}: ${value}`)
        .join('\n')}\n\n${JSON.stringify(sample?.body, null, 2)}\n`,
    );
    // addWebhook sends the same body (its own delivery id).
    const { deliveryId: _a, ...channelBody } = fromChannel('DEPLOYED');
    const { deliveryId: _b, ...hookBody } = fromHook('DEPLOYED');
    expect(hookBody).toEqual(channelBody);
    // And the history says what was sent and answered.
    // (A delivery is recorded once its answer is read: the receiver may have it a moment before the history does.)
    const sent = await waitFor(
      () => history('program'),
      (deliveries) =>
        wanted.every((event) => deliveries.some((d) => d.event === event)) &&
        deliveries.every((d) => d.status === 'DELIVERED' || d.status === 'FAILED'),
    );
    expect(sent.map((d) => d.event)).toEqual(expect.arrayContaining(wanted));
    expect(sent.every((d) => d.status === 'DELIVERED' && d.attempts === 1 && d.responseStatus === 200)).toBe(true);
    expect(sent[0]?.responseBody).toBe('{"ok":true}');
  }, 90_000);

  it('retries a receiver that answered 500 with the same X-Slipway-Delivery, shows both tries, and redelivers', async () => {
    await ok(api(), world.people.lead.token, ADD_CHANNEL, {
      p: projectId,
      i: { kind: 'WEBHOOK', name: 'flaky', url: `${receiverUrl}/flaky`, events: ['DEPLOYED'] },
    });
    refuse.set('/flaky', 1);
    const id = await release('www/index.html', 'two\n');
    const tries = await waitFor(
      async () => at('/flaky'),
      (found) => found.length >= 2,
      30_000,
    );
    expect(tries.map((r) => r.answered)).toEqual([500, 200]);
    expect(tries[0]?.headers['x-slipway-delivery']).toBe(tries[1]?.headers['x-slipway-delivery']);
    expect(tries[0]?.raw).toBe(tries[1]?.raw);
    const [delivery] = await waitFor(
      () => history('flaky'),
      (found) => found[0]?.status === 'DELIVERED',
    );
    expect(delivery).toMatchObject({
      event: 'DEPLOYED',
      attempts: 2,
      status: 'DELIVERED',
      responseStatus: 200,
      error: null,
      tries: [
        { responseStatus: 500, error: expect.stringContaining('answered 500') },
        { responseStatus: 200, error: null },
      ],
    });
    expect(tries[1]?.body.ticket.id).toBe(Number(id));

    // Redelivered: sent again as it was; a third try in its history. A developer may not.
    const refused = await api().gql(
      'mutation($d: ID!) { redeliver(deliveryId: $d) { id } }',
      { d: delivery?.id },
      { token: world.people.dev.token },
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await ok(api(), world.people.lead.token, 'mutation($d: ID!) { redeliver(deliveryId: $d) { id status } }', {
      d: delivery?.id,
    });
    const again = await waitFor(
      async () => at('/flaky'),
      (found) => found.length >= 3,
    );
    expect(again[2]?.headers['x-slipway-delivery']).toBe(String(delivery?.id));
    const [after] = await waitFor(
      () => history('flaky'),
      (found) => found[0]?.attempts === 3 && found[0]?.status === 'DELIVERED',
    );
    expect(after?.tries).toHaveLength(3);
  }, 60_000);

  it('tells DEPLOY_FAILED when a scheduled deploy does not start, saying why and when it was due', async () => {
    await ok(api(), world.people.lead.token, ADD_CHANNEL, {
      p: projectId,
      i: { kind: 'WEBHOOK', name: 'failures', url: `${receiverUrl}/failures`, events: ['DEPLOY_FAILED'] },
    });
    await svn.commit('three', { 'www/index.html': 'three\n' });
    const id = await submitTicket(api(), world.people.dev.token, projectId, 'on a schedule', ['www/index.html']);
    await waitForState(api(), world.people.dev.token, id, 'AWAITING_TEST');
    await ok(api(), world.people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
    await ok(api(), world.people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    const due = new Date(Date.now() + 2500);
    await ok(
      api(),
      world.people.dev.token,
      'mutation($id: ID!, $at: DateTime!) { scheduleDeploy(id: $id, at: $at) { id } }',
      {
        id,
        at: due.toISOString(),
      },
    );
    await ok(
      api(),
      world.people.lead.token,
      'mutation($p: ID!) { freezeProject(projectId: $p, reason: "audit") { id } }',
      {
        p: projectId,
      },
    );
    const [failed] = await waitFor(
      async () => at('/failures'),
      (found) => found.length > 0,
      30_000,
    );
    const when = `${due.toISOString().slice(0, 10)} ${due.toISOString().slice(11, 16)} UTC`;
    expect(failed?.body).toMatchObject({
      event: 'DEPLOY_FAILED',
      action: 'SCHEDULED_DEPLOY_FAILED',
      ticket: { id: Number(id), state: 'APPROVED' },
      comment: `the deploy scheduled for ${when} did not start: deploys are frozen (audit)`,
    });
    // It waits for its author and the project's leads.
    expect(failed?.body.lines).toContainEqual('Waiting for: dev, lead');
    await ok(api(), world.people.lead.token, 'mutation($p: ID!) { unfreezeProject(projectId: $p) { id } }', {
      p: projectId,
    });
  }, 60_000);

  it('shows a channel’s deliveries in the console with a redeliver button (both languages)', async () => {
    const browser = await launchBrowser();
    try {
      for (const locale of ['en', 'zh-CN'] as const) {
        const lead = await signedIn(browser, api().url, 'lead', world.people.lead.password, { locale });
        await lead.page.goto(`${api().url}/#/projects/${projectId}/settings`);
        const channel = lead.page.locator('[data-testid=channel]', { hasText: 'flaky' });
        await channel.locator('[data-testid=channel-history]').click();
        const row = channel.locator('[data-testid=delivery]').first();
        await row.waitFor();
        expect(await row.getAttribute('data-status')).toBe('DELIVERED');
        const [delivery] = await history('flaky');
        const tries = delivery?.attempts ?? 0;
        expect(await row.textContent()).toContain(locale === 'en' ? `${tries} tries` : `尝试 ${tries} 次`);
        const before = at('/flaky').length;
        await row.locator('[data-testid=redeliver]').click();
        await waitFor(
          async () => at('/flaky').length,
          (n) => n > before,
        );
        await expect
          .poll(() => row.textContent(), { timeout: 15_000 })
          .toContain(locale === 'en' ? `${tries + 1} tries` : `尝试 ${tries + 1} 次`);
        await lead.page.screenshot({ path: join(artifactsDir, `deliveries-${locale}.png`), fullPage: true });
        expect(lead.errors).toEqual([]);
        await lead.context.close();
      }
    } finally {
      await browser.close();
    }
  }, 60_000);
});

import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from './support/api.ts';
import { artifactsDir, launchBrowser, signedIn } from './support/browser.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, type TicketView, ticket, waitFor, waitForState } from './support/flow.ts';
import { createReadyProject, ledgerOf } from './support/project.ts';
import { type Sshd, startSshd } from './support/sshd.ts';
import { SvnRepo } from './support/svn.ts';
import { snapshot, tagSnapshot } from './support/tree.ts';
import { createWorld, type World } from './support/world.ts';

// Reverting one ticket on a shared site: three tickets in a row, the middle one undone, the others kept. Each deploy
// mode has its own project: a first environment ("qa": a local target and an ssh one) and a production after it (ssh).

type Login = 'dev' | 'lead' | 'lead2';
let world: World<Login>;
let dir: string;
let api: TestApi;
let worker: Worker;
let sshd: Sshd;
let people: World<Login>['people'];
/** The worked example for the closing note: each step and what each target holds after it. */
const example: string[] = [];

beforeAll(async () => {
  world = await createWorld('revert', ['dev', 'lead', 'lead2']);
  ({ dir, api, people } = world);
  sshd = await startSshd(dir);
  worker = await startTestWorker(world.database, join(dir, 'data'));
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await sshd?.stop();
  if (example.length) {
    await mkdir(artifactsDir, { recursive: true });
    await writeFile(join(artifactsDir, 'revert-example.txt'), `${example.join('\n')}\n`);
  }
  await world?.close();
});

const REQUEST = 'mutation($t: ID!, $why: String!) { requestRevert(ticketId: $t, reason: $why) { id kind state } }';
const CHECK = `query($id: ID!) { ticket(id: $id) { revertCheck { ok code message conflicts { id reason } builtOn { tag } }
  revertedBy { id state } } }`;

describe.each(['IN_PLACE', 'ATOMIC'] as const)('reverting one ticket (%s)', (mode) => {
  let repo: SvnRepo;
  let projectId: string;
  let qa: string;
  let production: string;
  const root = () => join(dir, mode);
  const targetDir = (name: string) => join(root(), 'targets', name);
  /** What a target serves: its directory, or in atomic mode the release `current` points at. */
  const served = (name: string) => (mode === 'ATOMIC' ? join(targetDir(name), 'current') : targetDir(name));
  const QA = ['qa-local', 'qa-ssh'];
  const ssh = () => ({ host: '127.0.0.1', port: sshd.port, user: sshd.user });

  beforeAll(async () => {
    await mkdir(join(root(), 'repo'), { recursive: true });
    repo = await SvnRepo.create(join(root(), 'repo'), {
      'www/a.txt': 'a0\n',
      'www/b.txt': 'b0\n',
      'www/c.txt': 'c0\n',
      'bin/run.sh': '#!/bin/sh\necho run\n',
    });
    // An executable file (svn:executable): a revert that restores it must restore its mode too.
    await execa('svn', ['propset', '-q', 'svn:executable', '*', 'bin/run.sh'], { cwd: repo.workingCopy });
    await execa('svn', ['commit', '-q', '-m', 'executable', '--non-interactive'], { cwd: repo.workingCopy });
    projectId = await createReadyProject(api, people.admin, {
      name: `revert-${mode.toLowerCase()}`,
      sourceUrl: repo.url,
      stagingPath: join(root(), 'staging'),
      settings: { deployMode: mode, sshKeyPath: sshd.keyPath, knownHostsPath: sshd.knownHostsPath },
      targets: [],
      members: [
        { user: people.dev, role: 'DEVELOPER' },
        { user: people.lead, role: 'LEAD' },
        { user: people.lead2, role: 'LEAD' },
      ],
    });
    const environments = await ok(
      api,
      people.admin.token,
      'query($p: ID!) { project(id: $p) { environments { id } } }',
      {
        p: projectId,
      },
    );
    qa = environments.project.environments[0].id;
    await ok(
      api,
      people.admin.token,
      'mutation($id: ID!) { updateEnvironment(id: $id, input: { name: "qa" }) { id } }',
      {
        id: qa,
      },
    );
    production = (
      await ok(
        api,
        people.admin.token,
        'mutation($p: ID!, $i: EnvironmentInput!) { addEnvironment(projectId: $p, input: $i) { id } }',
        { p: projectId, i: { name: 'production', requiredApprovals: 1 } },
      )
    ).addEnvironment.id;
    const add = 'mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }';
    await ok(api, people.admin.token, add, {
      p: projectId,
      t: { name: 'qa-local', path: targetDir('qa-local'), environmentId: qa },
    });
    await ok(api, people.admin.token, add, {
      p: projectId,
      t: { name: 'qa-ssh', ...ssh(), path: targetDir('qa-ssh'), environmentId: qa },
    });
    await ok(api, people.admin.token, add, {
      p: projectId,
      t: { name: 'prod-ssh', ...ssh(), path: targetDir('prod-ssh'), environmentId: production },
    });
  }, 120_000);

  async function deployed(id: string): Promise<TicketView> {
    await ok(api, people.lead.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
    const done = await waitForState(api, people.lead.token, id, ['DEPLOYED', 'DEPLOY_FAILED'], 120_000);
    expect(done.state, JSON.stringify([done.deployResults, done.jobs])).toBe('DEPLOYED');
    return done;
  }

  /** A release ticket for `files` (null: deleted in svn), tested, approved and deployed to qa: answers its view. */
  async function ship(reason: string, files: Record<string, string | null>): Promise<TicketView> {
    await repo.commit(reason, files);
    const data = await ok(
      api,
      people.dev.token,
      'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
      {
        i: { projectId, reason, paths: Object.keys(files) },
      },
    );
    const id = data.submitTicket.id;
    await waitForState(api, people.dev.token, id, 'AWAITING_TEST', 60_000);
    await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    return deployed(id);
  }

  /** Requests the revert as `token`'s user and waits until the executor has prepared it. */
  async function prepared(ticketId: string, reason: string, token = people.dev.token) {
    const data = await ok(api, token, REQUEST, { t: ticketId, why: reason });
    expect(data.requestRevert).toMatchObject({ kind: 'REVERT', state: 'PENDING_STAGING' });
    const id: string = data.requestRevert.id;
    const ready = await waitForState(api, token, id, ['AWAITING_APPROVAL', 'STAGING_FAILED'], 60_000);
    expect(ready.state, JSON.stringify(ready.events)).toBe('AWAITING_APPROVAL');
    return id;
  }

  async function changesOf(id: string) {
    const data = await ok(
      api,
      people.dev.token,
      'query($id: ID!) { ticket(id: $id) { paths reverts { id } changes { path change diff } } }',
      { id },
    );
    return data.ticket;
  }

  /** Every target of qa serves exactly `tag` (byte for byte the ledger's tag). */
  async function qaServes(tag: string) {
    const expected = await tagSnapshot(ledgerOf(join(dir, 'data'), projectId), tag);
    for (const name of QA) expect(await snapshot(served(name)), name).toEqual(expected);
  }

  async function record(step: string) {
    const holds: string[] = [];
    for (const name of [...QA, 'prod-ssh']) {
      const files = await snapshot(served(name)).catch(() => ({}));
      const read = async (path: string) =>
        path in files ? (await readFile(join(served(name), path), 'utf8')).trim().replace('\n', ' ') : '—';
      holds.push(
        `  ${name}: a=${await read('www/a.txt')} b=${await read('www/b.txt')} c=${await read('www/c.txt')} ` +
          `new/extra=${await read('www/new/extra.txt')} bin/run.sh=${'bin/run.sh' in files ? 'present' : '—'}`,
      );
    }
    example.push(`[${mode}] ${step}`, ...holds);
  }

  let t1: TicketView;
  let t2: TicketView;
  let t3: TicketView;

  it('undoes the middle of three tickets: the first and third stay, the target is byte-identical to the new tag', async () => {
    t1 = await ship('a1', { 'www/a.txt': 'a1\n' });
    t2 = await ship('b1 and a new page', { 'www/b.txt': 'b1\n', 'www/new/extra.txt': 'extra\n' });
    t3 = await ship('c1', { 'www/c.txt': 'c1\n' });
    expect([t1.release?.tag, t2.release?.tag, t3.release?.tag]).toEqual(['v1', 'v2', 'v3']);
    await record(`#${t1.id} a1 → v1, #${t2.id} b1 + www/new/extra.txt → v2, #${t3.id} c1 → v3 (all on qa)`);

    const check = await ok(api, people.dev.token, CHECK, { id: t2.id });
    expect(check.ticket.revertCheck).toMatchObject({ ok: true, code: null, conflicts: [], builtOn: { tag: 'v1' } });

    const id = await prepared(t2.id, 'the banner of v2 is wrong');
    // What the approver reads: exactly what goes back, with diffs.
    const revert = await changesOf(id);
    expect(revert.reverts).toEqual({ id: t2.id });
    expect(revert.paths).toEqual(['www/b.txt', 'www/new/extra.txt']);
    expect(revert.changes.map((c: { path: string; change: string }) => [c.path, c.change])).toEqual([
      ['www/b.txt', 'MODIFIED'],
      ['www/new/extra.txt', 'DELETED'],
    ]);
    expect(revert.changes[0].diff).toMatch(/-b1\n\+b0/);
    const view = await ticket(api, people.dev.token, id);
    expect(view.events.map((e) => e.action)).toEqual(['REQUEST_REVERT', 'PREPARED']);
    // The requester is a developer: a lead approves, as for a rollback.
    expect(view.availableActions).not.toContain('APPROVE');
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    const done = await deployed(id);
    expect(done.release?.tag).toBe('v4');
    await qaServes('v4');
    for (const name of QA) {
      expect(await readFile(join(served(name), 'www/a.txt'), 'utf8')).toBe('a1\n');
      expect(await readFile(join(served(name), 'www/b.txt'), 'utf8')).toBe('b0\n');
      expect(await readFile(join(served(name), 'www/c.txt'), 'utf8')).toBe('c1\n');
      // The directory the ticket created is gone with its only file.
      await expect(stat(join(served(name), 'www/new'))).rejects.toThrow(/ENOENT/);
    }
    const after = await ok(api, people.dev.token, CHECK, { id: t2.id });
    expect(after.ticket.revertedBy).toEqual([{ id, state: 'DEPLOYED' }]);
    await record(`#${id} reverts #${t2.id} → v4 (b back to b0, www/new gone; a1 and c1 kept)`);
  }, 300_000);

  it('restores a deleted file with its mode, and removes nothing else', async () => {
    const removal = await ship('drop the runner', { 'bin/run.sh': null });
    for (const name of QA) await expect(stat(join(served(name), 'bin/run.sh'))).rejects.toThrow(/ENOENT/);
    const id = await prepared(removal.id, 'the runner is still needed');
    const revert = await changesOf(id);
    expect(revert.changes.map((c: { path: string; change: string }) => [c.path, c.change])).toEqual([
      ['bin/run.sh', 'ADDED'],
    ]);
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    const done = await deployed(id);
    await qaServes(done.release?.tag as string);
    for (const name of QA) {
      const runner = await stat(join(served(name), 'bin/run.sh'));
      expect((runner.mode & 0o777).toString(8), name).toBe('755');
      expect(await readFile(join(served(name), 'bin/run.sh'), 'utf8')).toBe('#!/bin/sh\necho run\n');
    }
    await record(
      `#${removal.id} deletes bin/run.sh → ${removal.release?.tag}; #${id} reverts it → ${done.release?.tag} (restored, mode 755)`,
    );
  }, 300_000);

  it('refuses a revert when a later release changed the same paths, naming that ticket', async () => {
    const later = await ship('a2', { 'www/a.txt': 'a2\n' });
    const refused = await api.gql(REQUEST, { t: t1.id, why: 'undo a1' }, { token: people.dev.token });
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: 'REVERT_CONFLICT',
      tickets: [{ id: Number(later.id), reason: 'a2', tag: later.release?.tag }],
    });
    expect(refused.errors?.[0]?.message).toMatch(new RegExp(`#${later.id} \\(${later.release?.tag}\\)`));
    const check = await ok(api, people.dev.token, CHECK, { id: t1.id });
    expect(check.ticket.revertCheck).toMatchObject({
      ok: false,
      code: 'REVERT_CONFLICT',
      conflicts: [{ id: later.id }],
    });
    // Nothing was filed.
    expect(check.ticket.revertedBy).toEqual([]);
    // A ticket already reverted: its revert stands in the way of a second one.
    const again = await api.gql(REQUEST, { t: t2.id, why: 'again' }, { token: people.dev.token });
    expect(again.errors?.[0]?.extensions?.code).toBe('REVERT_CONFLICT');
    await record(
      `#${later.id} a2 → ${later.release?.tag}; reverting #${t1.id} refused: REVERT_CONFLICT naming #${later.id}`,
    );
  }, 300_000);

  it('refuses a revert of a ticket whose release was rolled back', async () => {
    const bad = await ship('d1', { 'www/d.txt': 'd1\n' });
    const releases = await ok(api, people.dev.token, 'query($p: ID!) { releases(projectId: $p) { id tag } }', {
      p: projectId,
    });
    const previous = releases.releases.find(
      (r: { tag: string }) => r.tag === `v${Number(bad.release?.tag.slice(1)) - 1}`,
    );
    const rollbackId = (
      await ok(
        api,
        people.dev.token,
        'mutation($r: ID!, $why: String!, $e: ID) { requestRollback(releaseId: $r, reason: $why, environmentId: $e) { id } }',
        { r: previous.id, why: 'd1 breaks', e: qa },
      )
    ).requestRollback.id as string;
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id: rollbackId });
    await deployed(rollbackId);
    const refused = await api.gql(REQUEST, { t: bad.id, why: 'undo d1' }, { token: people.dev.token });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_PROMOTABLE', reason: 'NOT_LIVE' });
    const check = await ok(api, people.dev.token, CHECK, { id: bad.id });
    expect(check.ticket.revertCheck).toMatchObject({ ok: false, code: 'NOT_PROMOTABLE' });
    await record(
      `#${bad.id} d1 → ${bad.release?.tag}, rolled back to ${previous.tag}; reverting #${bad.id} refused: NOT_PROMOTABLE`,
    );
  }, 300_000);

  it('keeps the approval rules: the lead who asked for a revert does not approve it alone', async () => {
    const t = await ship('c2', { 'www/c.txt': 'c2\n' });
    const id = await prepared(t.id, 'c2 was premature', people.lead.token);
    const own = await api.gql(
      'mutation($id: ID!) { approveTicket(id: $id) { id } }',
      { id },
      { token: people.lead.token },
    );
    expect(own.errors?.[0]?.message).toMatch(/your own ticket/);
    const approvers = await ok(api, people.dev.token, 'query($id: ID!) { ticket(id: $id) { approvers { login } } }', {
      id,
    });
    expect(approvers.ticket.approvers).toEqual([{ login: 'lead2' }]);
    await ok(api, people.lead2.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    const done = await deployed(id);
    await qaServes(done.release?.tag as string);
    for (const name of QA) expect(await readFile(join(served(name), 'www/c.txt'), 'utf8')).toBe('c1\n');
    await record(
      `#${t.id} c2 → ${t.release?.tag}; #${id} (asked by a lead, approved by another) reverts it → ${done.release?.tag}`,
    );

    // The revert's release is an ordinary version: promoted to production byte for byte.
    const releases = await ok(api, people.dev.token, 'query($p: ID!) { releases(projectId: $p) { id tag } }', {
      p: projectId,
    });
    const tag = done.release?.tag as string;
    const promotion = await ok(
      api,
      people.dev.token,
      'mutation($r: ID!, $e: ID!, $why: String!) { requestPromotion(releaseId: $r, environmentId: $e, reason: $why) { id } }',
      {
        r: releases.releases.find((r: { tag: string }) => r.tag === tag).id,
        e: production,
        why: `${tag} to production`,
      },
    );
    const promotionId = promotion.requestPromotion.id;
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id: promotionId });
    await deployed(promotionId);
    expect(await snapshot(served('prod-ssh'))).toEqual(await tagSnapshot(ledgerOf(join(dir, 'data'), projectId), tag));
    await record(`${tag} (a revert's release) promoted to production`);
    await waitFor(
      () => ok(api, people.dev.token, 'query($id: ID!) { ticket(id: $id) { state } }', { id: promotionId }),
      (d) => d.ticket.state === 'DEPLOYED',
    );
  }, 300_000);

  if (mode === 'IN_PLACE')
    it('is asked for in the console: what goes back, or which later tickets stand in the way (both languages)', async () => {
      const browser = await launchBrowser();
      try {
        const shipped = await ship('e1', { 'www/e.txt': 'e1\n' });
        const dev = await signedIn(browser, api.url, 'dev', people.dev.password);
        const { page } = dev;
        // From the releases list: the row of the ticket's version has "Revert".
        await page.goto(`${api.url}/#/projects/${projectId}/releases`);
        await page.click(`[data-testid=revert][data-ticket="${shipped.id}"]`);
        const dialog = page.getByTestId('dialog');
        await dialog.getByTestId('revert-changes').getByText('1 file(s) go back').waitFor();
        expect(await dialog.getByTestId('revert-changes').textContent()).toContain('www/e.txt');
        expect(await dialog.getByTestId('dialog-version').textContent()).toContain(shipped.release?.tag as string);
        await page.screenshot({ path: join(artifactsDir, 'revert-dialog-en.png') });
        await dialog.getByTestId('dialog-comment').fill('e1 went out too early');
        await dialog.getByTestId('dialog-confirm').click();
        // The revert ticket: it says what it undoes, and is prepared by the executor for a lead.
        await page.getByTestId('ticket-reverts').waitFor();
        expect(await page.getByTestId('ticket-reverts').textContent()).toContain(`#${shipped.id}`);
        await page.locator('[data-testid=ticket-state-current][data-state=AWAITING_APPROVAL]').waitFor();
        await page.getByText('www/e.txt').first().waitFor();
        expect(page.url()).toMatch(/#\/tickets\/\d+$/);
        expect(dev.errors).toEqual([]);
        await dev.context.close();

        // A ticket whose paths a later release changed: the dialog names that ticket, linked, and asks nothing.
        const later = (await ok(api, people.dev.token, CHECK, { id: t1.id })).ticket.revertCheck.conflicts[0];
        for (const locale of ['en', 'zh-CN'] as const) {
          const viewer = await signedIn(browser, api.url, 'dev', people.dev.password, { locale });
          await viewer.page.goto(`${api.url}/#/tickets/${t1.id}`);
          await viewer.page.getByTestId('revert').click();
          const conflict = viewer.page.getByTestId('dialog');
          await conflict.getByTestId('revert-conflicts').waitFor();
          const link = conflict.getByTestId('revert-conflicts').locator(`a[href="#/tickets/${later.id}"]`);
          expect(await link.textContent()).toContain(`#${later.id} ${later.reason}`);
          expect(await conflict.getByTestId('dialog-confirm').isDisabled()).toBe(true);
          expect(await conflict.getByTestId('revert-refusal').textContent()).toMatch(
            locale === 'en' ? /revert them first/ : /请先撤销它们/,
          );
          await viewer.page.screenshot({ path: join(artifactsDir, `revert-conflict-${locale}.png`) });
          await link.click();
          await viewer.page.waitForURL(new RegExp(`#/tickets/${later.id}$`));
          expect(viewer.errors).toEqual([]);
          await viewer.context.close();
        }
      } finally {
        await browser.close();
      }
    }, 300_000);
});

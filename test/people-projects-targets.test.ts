import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { jobs } from '@slipway/schema';
import { eq } from 'drizzle-orm';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestWorker } from './support/executor.ts';
import { ok, submitTicket, waitFor, waitForState } from './support/flow.ts';
import { createReadyProject } from './support/project.ts';
import { type Sshd, startSshd } from './support/sshd.ts';
import { SvnRepo } from './support/svn.ts';
import { createWorld, type World } from './support/world.ts';

type Login = 'dev' | 'tester' | 'lead';
let world: World<Login>;
let worker: Worker;
let sshd: Sshd;
let repo: SvnRepo;
let projectId: string;

const api = () => world.api;
const people = () => world.people;
const gql = (token: string, query: string, variables: Record<string, unknown> = {}) =>
  world.api.gql(query, variables, token ? { token } : {});
const SIGN_IN = 'mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }';
const signIn = async (login: string, password: string): Promise<string> => {
  const answer = await gql('', SIGN_IN, { l: login, p: password });
  expect(answer.errors).toBeUndefined();
  return (answer.data as { login: { token: string } }).login.token;
};

beforeAll(async () => {
  world = await createWorld('people-targets', ['dev', 'tester', 'lead']);
  sshd = await startSshd(world.dir);
  worker = await startTestWorker(world.database, join(world.dir, 'data'));
  await mkdir(join(world.dir, 'svn'), { recursive: true });
  repo = await SvnRepo.create(join(world.dir, 'svn'), { 'www/index.html': 'one\n', 'www/a.txt': 'a\n' });
  projectId = await createReadyProject(world.api, world.people.admin, {
    name: 'shop',
    sourceUrl: repo.url,
    stagingPath: join(world.dir, 'staging'),
    settings: { allowAuthorPassTest: false, batchSize: 1, parallelism: 1 },
    targets: [
      { name: 'alpha', path: join(world.dir, 'targets', 'alpha') },
      { name: 'beta', path: join(world.dir, 'targets', 'beta') },
    ],
    members: [
      { user: world.people.dev, role: 'DEVELOPER' },
      { user: world.people.tester, role: 'TESTER' },
      { user: world.people.lead, role: 'LEAD' },
    ],
  });
}, 90_000);

afterAll(async () => {
  await worker?.stop();
  await sshd?.stop();
  await world?.close();
});

async function submit(paths: string[], reason = `change ${paths.join(', ')}`): Promise<string> {
  const id = await submitTicket(api(), people().dev.token, projectId, reason, paths);
  await waitForState(api(), people().dev.token, id, 'AWAITING_TEST');
  return id;
}
const act = (token: string, mutation: string, id: string) =>
  ok(api(), token, `mutation($id: ID!) { ${mutation}(id: $id) { id state } }`, { id });

describe('passwords', () => {
  const CHANGE = 'mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }';

  it('are changed by their owner (the current one checked; other sessions end) and reset by an admin', async () => {
    const { dev, admin } = people();
    const other = await signIn('dev', dev.password);
    const wrong = await gql(dev.token, CHANGE, { c: 'not my password', n: 'a-new-password' });
    expect(wrong.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'currentPassword' });
    const short = await gql(dev.token, CHANGE, { c: dev.password, n: 'short' });
    // The rule is named too, with its values, for clients to say in their own words.
    expect(short.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'newPassword',
      problem: 'tooShort',
      params: { n: '8' },
    });
    expect((await ok(api(), dev.token, CHANGE, { c: dev.password, n: 'a-new-password' })).changePassword).toBe(true);
    // This session goes on; the other one ended; the new password signs in, the old one not.
    expect((await ok(api(), dev.token, '{ me { login } }')).me.login).toBe('dev');
    expect((await gql(other, '{ me { login } }')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await gql('', SIGN_IN, { l: 'dev', p: dev.password })).errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
    await signIn('dev', 'a-new-password');

    const RESET = 'mutation($u: ID!, $n: String!) { resetPassword(userId: $u, newPassword: $n) { id } }';
    expect(
      (await gql(people().lead.token, RESET, { u: dev.id, n: 'reset-by-lead' })).errors?.[0]?.extensions?.code,
    ).toBe('FORBIDDEN');
    await ok(api(), admin.token, RESET, { u: dev.id, n: dev.password });
    // A reset ends every session of the user at once.
    expect((await gql(dev.token, '{ me { login } }')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    dev.token = await signIn('dev', dev.password);
    const roles = await ok(api(), admin.token, 'query { users { login memberships { role project { name } } } }');
    expect(roles.users.find((u: { login: string }) => u.login === 'tester').memberships).toEqual([
      { role: 'TESTER', project: { name: 'shop' } },
    ]);
  });
});

describe('the test of a ticket', () => {
  it('is passed by a tester, not by its author, unless the project allows it', async () => {
    const id = await submit(['www/a.txt']);
    const own = await gql(people().dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
    expect(own.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(own.errors?.[0]?.message).toMatch(/your own ticket/);
    await ok(
      api(),
      people().admin.token,
      'mutation($p: ID!) { updateProject(id: $p, input: { allowAuthorPassTest: true }) { allowAuthorPassTest } }',
      {
        p: projectId,
      },
    );
    expect((await act(people().dev.token, 'passTest', id)).passTest.state).toBe('AWAITING_APPROVAL');
    await ok(
      api(),
      people().admin.token,
      'mutation($p: ID!) { updateProject(id: $p, input: { allowAuthorPassTest: false }) { id } }',
      {
        p: projectId,
      },
    );
    await act(people().lead.token, 'cancelTicket', id);
  });
});

describe('staging', () => {
  it('fails, saying why, for a path that exists nowhere (a typo), instead of staging an empty ticket', async () => {
    const id = await submitTicket(api(), people().dev.token, projectId, 'check', ['www/ index.html']);
    const failed = await waitForState(api(), people().dev.token, id, 'STAGING_FAILED');
    expect(failed.events.at(-1)?.comment).toMatch(
      /www\/ index\.html is neither in the source nor in the live version v0: check the path/,
    );
    // The same in words of no language, for the console and Chinese channels to say in theirs.
    const events = await ok(
      api(),
      people().dev.token,
      'query($id: ID!) { ticket(id: $id) { events { message { key params { name value } } } } }',
      { id },
    );
    expect(events.ticket.events.at(-1).message).toEqual({
      key: 'PATH_NOT_FOUND',
      params: [
        { name: 'path', value: 'www/ index.html' },
        { name: 'version', value: 'v0' },
      ],
    });
    await act(people().dev.token, 'cancelTicket', id);
  });
});

describe('targets', () => {
  const TARGETS = 'query($p: ID!) { project(id: $p) { targets { id name position canary path } } }';
  const targetsOf = async () =>
    (await ok(api(), people().admin.token, TARGETS, { p: projectId })).project.targets as {
      id: string;
      name: string;
      canary: boolean;
      path: string;
    }[];

  it('are edited, ordered (the first batch is the canary), and refuse what does not fit', async () => {
    const [alpha, beta] = await targetsOf();
    expect([alpha?.name, beta?.name, alpha?.canary, beta?.canary]).toEqual(['alpha', 'beta', true, false]);
    const ORDER = 'mutation($p: ID!, $t: [ID!]!) { setTargetOrder(projectId: $p, targetIds: $t) { id } }';
    await ok(api(), people().admin.token, ORDER, { p: projectId, t: [beta?.id, alpha?.id] });
    expect((await targetsOf()).map((t) => [t.name, t.canary])).toEqual([
      ['beta', true],
      ['alpha', false],
    ]);
    const partial = await gql(people().admin.token, ORDER, { p: projectId, t: [beta?.id] });
    expect(partial.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'targetIds' });
    const byLead = await gql(people().lead.token, ORDER, { p: projectId, t: [alpha?.id, beta?.id] });
    expect(byLead.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await ok(api(), people().admin.token, ORDER, { p: projectId, t: [alpha?.id, beta?.id] });

    const UPDATE = 'mutation($id: ID!, $i: TargetInput!) { updateTarget(id: $id, input: $i) { name port path } }';
    const clash = await gql(people().admin.token, UPDATE, { id: beta?.id, i: { name: 'alpha', path: beta?.path } });
    expect(clash.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.name' });
    const relative = await gql(people().admin.token, UPDATE, { id: beta?.id, i: { name: 'beta', path: 'www' } });
    expect(relative.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.path' });
    const renamed = await ok(api(), people().admin.token, UPDATE, {
      id: beta?.id,
      i: { name: 'beta-1', path: beta?.path },
    });
    expect(renamed.updateTarget).toEqual({ name: 'beta-1', port: null, path: beta?.path });
  });

  it('are tested before a deploy needs them: reached, host key known, key accepted, rsync there, path writable', async () => {
    const { admin } = people();
    const ADD = 'mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }';
    const TEST = 'mutation($id: ID!) { testTarget(id: $id) { id } }';
    const CHECK =
      'query($id: ID!) { job(id: $id) { state error targetCheck { ok reachable hostKeyKnown signedIn rsyncPresent pathWritable problem target { name } } } }';
    const check = async (targetId: string) => {
      const job = await ok(api(), admin.token, TEST, { id: targetId });
      const done = await waitFor(
        () => ok(api(), admin.token, CHECK, { id: job.testTarget.id }),
        (d) => d.job.state === 'SUCCEEDED' || d.job.state === 'FAILED',
        30_000,
      );
      return done.job;
    };
    // A separate project, so the deploys below do not meet these targets.
    const other = await createReadyProject(api(), admin, {
      name: 'checks',
      sourceUrl: repo.url,
      stagingPath: join(world.dir, 'staging-checks'),
      settings: { sshKeyPath: sshd.keyPath, knownHostsPath: sshd.knownHostsPath },
      targets: [],
      members: [],
    });
    const add = async (t: Record<string, unknown>) =>
      (await ok(api(), admin.token, ADD, { p: other, t })).addTarget.id as string;
    const remote = { host: '127.0.0.1', port: sshd.port, user: sshd.user };

    const good = await check(await add({ name: 'good', ...remote, path: join(world.dir, 'checked', 'new-dir') }));
    expect(good).toMatchObject({
      state: 'SUCCEEDED',
      targetCheck: {
        ok: true,
        reachable: true,
        hostKeyKnown: true,
        signedIn: true,
        rsyncPresent: true,
        pathWritable: true,
      },
    });
    const local = await check(await add({ name: 'local', path: join(world.dir, 'checked', 'local') }));
    expect(local.targetCheck).toMatchObject({ ok: true, reachable: null, rsyncPresent: true, pathWritable: true });
    await writeFile(join(world.dir, 'a-file'), 'not a directory\n');
    const blocked = await check(await add({ name: 'blocked', ...remote, path: join(world.dir, 'a-file', 'under') }));
    expect(blocked).toMatchObject({ state: 'FAILED', targetCheck: { ok: false, signedIn: true, pathWritable: false } });
    expect(blocked.error).toMatch(/is not writable/);
    const closed = await check(await add({ name: 'closed', host: '127.0.0.1', port: 1, path: '/srv/site' }));
    expect(closed.targetCheck).toMatchObject({ ok: false, reachable: false, pathWritable: null });

    // A host key nobody recorded, then a key the server refuses.
    const emptyKnownHosts = join(world.dir, 'known_hosts_empty');
    await writeFile(emptyKnownHosts, '');
    const SETTINGS = 'mutation($p: ID!, $i: UpdateProjectInput!) { updateProject(id: $p, input: $i) { id } }';
    await ok(api(), admin.token, SETTINGS, { p: other, i: { knownHostsPath: emptyKnownHosts } });
    const goodId = (
      await ok(api(), admin.token, 'query($p: ID!) { project(id: $p) { targets { id name } } }', { p: other })
    ).project.targets.find((t: { name: string }) => t.name === 'good').id;
    const unknownHost = await check(goodId);
    expect(unknownHost.targetCheck).toMatchObject({ ok: false, reachable: true, hostKeyKnown: false });
    expect(unknownHost.targetCheck.problem).toMatch(/host key/);
    const stranger = join(world.dir, 'stranger_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    await ok(api(), admin.token, SETTINGS, {
      p: other,
      i: { knownHostsPath: sshd.knownHostsPath, sshKeyPath: stranger },
    });
    const refused = await check(goodId);
    expect(refused.targetCheck).toMatchObject({ ok: false, reachable: true, hostKeyKnown: true, signedIn: false });
    expect(refused.targetCheck.problem).toMatch(/refused the ssh key/);
  }, 90_000);
});

describe('a failed deploy', () => {
  it('is cancelled: the targets that took the new version go back to the live one, then the ticket is CANCELLED', async () => {
    const { dev, tester, lead, admin } = people();
    const targets = (
      await ok(api(), admin.token, 'query($p: ID!) { project(id: $p) { targets { id name path } } }', {
        p: projectId,
      })
    ).project.targets as { id: string; name: string; path: string }[];
    const [alpha, beta] = targets;
    // The second target cannot be written: the canary (alpha) takes the new version, beta fails.
    await writeFile(join(world.dir, 'blocker'), 'a file\n');
    await ok(api(), admin.token, 'mutation($id: ID!, $i: TargetInput!) { updateTarget(id: $id, input: $i) { id } }', {
      id: beta?.id,
      i: { name: 'beta-1', path: join(world.dir, 'blocker', 'beta') },
    });
    await repo.commit('two', { 'www/index.html': 'two\n' });
    const id = await submit(['www/index.html']);
    await act(tester.token, 'passTest', id);
    await act(lead.token, 'approveTicket', id);
    await act(dev.token, 'deployTicket', id);
    await waitForState(api(), dev.token, id, ['DEPLOY_FAILED', 'DEPLOYED'], 60_000);
    expect(await readFile(join(alpha?.path as string, 'www/index.html'), 'utf8')).toBe('two\n');

    // Another submit on the same path waits: the failed ticket still holds it.
    const held = await gql(dev.token, 'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }', {
      i: { projectId, reason: 'again', paths: ['www/index.html'] },
    });
    expect(held.errors?.[0]?.extensions?.code).toBe('PATH_LOCKED');

    expect((await act(dev.token, 'cancelTicket', id)).cancelTicket.state).toBe('DEPLOY_FAILED');
    const twice = await gql(lead.token, 'mutation($id: ID!) { retryDeploy(id: $id) { id } }', { id });
    // Either the revert is still under way (refused) or it is done (the ticket is no longer DEPLOY_FAILED).
    expect(twice.errors?.[0]?.extensions?.code).toBe('INVALID_TRANSITION');
    const cancelled = await waitForState(api(), dev.token, id, ['CANCELLED'], 60_000);
    expect(cancelled.events.at(-1)).toMatchObject({ action: 'REVERTED', to: 'CANCELLED' });
    expect(await readFile(join(alpha?.path as string, 'www/index.html'), 'utf8')).toBe('one\n');
    const [revert] = await world.database.db.select().from(jobs).where(eq(jobs.kind, 'REVERT'));
    expect(revert?.state).toBe('SUCCEEDED');
    // The path is free again.
    await submit(['www/index.html'], 'again, properly');
  }, 120_000);
});

describe('the ticket list', () => {
  it('finds tickets by words in the reason or a path, by several states, by author and by date', async () => {
    const LIST = `query($p: ID!, $q: String, $s: [TicketState!], $a: ID, $after: DateTime, $before: DateTime) {
      tickets(projectId: $p, search: $q, states: $s, authorId: $a, createdAfter: $after, createdBefore: $before, first: 100) {
        edges { node { reason state paths } } } }`;
    const find = async (v: Record<string, unknown>) =>
      (
        (await ok(api(), people().lead.token, LIST, { p: projectId, ...v })).tickets.edges as {
          node: { reason: string; state: string; paths: string[] };
        }[]
      ).map((e) => e.node);
    expect((await find({ q: 'PROPERLY' })).map((n) => n.reason)).toEqual(['again, properly']);
    const byPath = await find({ q: 'index.html' });
    expect(byPath.length).toBeGreaterThan(1);
    expect(byPath.every((n) => n.paths.some((p) => p.includes('index.html')) || /index\.html/i.test(n.reason))).toBe(
      true,
    );
    // LIKE's wildcards are taken literally.
    expect(await find({ q: '%' })).toEqual([]);
    const states = await find({ s: ['CANCELLED', 'STAGING_FAILED'] });
    expect(new Set(states.map((n) => n.state))).toEqual(new Set(['CANCELLED']));
    expect(await find({ a: people().dev.id })).toHaveLength((await find({})).length);
    expect(await find({ after: new Date(Date.now() + 86_400_000).toISOString() })).toEqual([]);
    expect((await find({ before: new Date(Date.now() + 86_400_000).toISOString() })).length).toBeGreaterThan(2);
  });
});

describe('projects', () => {
  it('keep one staging copy each, and leave the lists when archived (not while a ticket is open)', async () => {
    const { admin, dev } = people();
    const CREATE = 'mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }';
    const base = { sourceType: 'SVN', sourceUrl: repo.url };
    const same = await gql(admin.token, CREATE, {
      i: { ...base, name: 'twin', stagingPath: join(world.dir, 'staging') },
    });
    expect(same.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.stagingPath' });
    expect(same.errors?.[0]?.message).toMatch(/staging path of project shop/);
    const inside = await gql(admin.token, CREATE, {
      i: { ...base, name: 'nested', stagingPath: join(world.dir, 'staging', 'www') },
    });
    expect(inside.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.stagingPath' });

    const ARCHIVE = 'mutation($id: ID!) { archiveProject(id: $id) { archived } }';
    const open = await gql(admin.token, ARCHIVE, { id: projectId });
    expect(open.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    expect(open.errors?.[0]?.message).toMatch(/open ticket/);
    const tickets = await ok(
      api(),
      admin.token,
      'query($p: ID!) { tickets(projectId: $p, first: 50) { edges { node { id state } } } }',
      {
        p: projectId,
      },
    );
    for (const { node: t } of tickets.tickets.edges as { node: { id: string; state: string } }[])
      if (!['CANCELLED', 'DEPLOYED', 'REJECTED'].includes(t.state))
        await act(people().lead.token, 'cancelTicket', t.id);
    expect((await gql(dev.token, ARCHIVE, { id: projectId })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await ok(api(), admin.token, ARCHIVE, { id: projectId })).archiveProject.archived).toBe(true);
    const names = async (token: string, all = false) =>
      (
        await ok(api(), token, 'query($a: Boolean) { projects(includeArchived: $a) { name archived } }', { a: all })
      ).projects.map((p: { name: string }) => p.name);
    expect(await names(dev.token)).not.toContain('shop');
    expect(await names(admin.token)).not.toContain('shop');
    expect(await names(admin.token, true)).toContain('shop');
    const refused = await gql(dev.token, 'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }', {
      i: { projectId, reason: 'after archiving', paths: ['www/a.txt'] },
    });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'projectId' });
    await ok(api(), admin.token, 'mutation($id: ID!) { unarchiveProject(id: $id) { archived } }', { id: projectId });
    expect(await names(dev.token)).toContain('shop');
  });
});

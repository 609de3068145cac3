import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestUser, startTestApi, type TestApi, type TestUser } from './support/api.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, waitForState } from './support/flow.ts';
import { GitRepo } from './support/git.ts';
import { createReadyProject, ledgerOf } from './support/project.ts';
import { snapshot, tagSnapshot } from './support/tree.ts';

let dir: string;
let database: TestDatabase;
let api: TestApi;
let worker: Worker;
let repo: GitRepo;
const people = {} as Record<'admin' | 'dev' | 'lead' | 'viewer' | 'outsider', TestUser>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-git-'));
  await chmod(dir, 0o755);
  database = await createTestDatabase();
  api = await startTestApi(database);
  people.admin = await createTestUser(database, 'admin', { isAdmin: true });
  for (const name of ['dev', 'lead', 'viewer', 'outsider'] as const)
    people[name] = await createTestUser(database, name);
  repo = await GitRepo.create(dir, 'release', {
    'www/a.txt': 'a0\n',
    'www/b.txt': 'b0\n',
    'www/old.txt': 'to be removed\n',
    'www/.gitignore': 'local.conf\n',
  });
  worker = await startTestWorker(database, join(dir, 'data'));
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('a project whose source is a git branch', () => {
  it('stages the ticket paths at the branch head (changes and deletions), and ships only them', async () => {
    const target = join(dir, 'target');
    const projectId = await createReadyProject(api, people.admin, {
      name: 'git-site',
      sourceType: 'GIT',
      sourceUrl: repo.url,
      stagingPath: join(dir, 'staging'),
      settings: { branch: 'release' },
      targets: [{ name: 'web', path: target }],
      members: [
        { user: people.dev, role: 'DEVELOPER' },
        { user: people.lead, role: 'LEAD' },
        { user: people.viewer, role: 'VIEWER' },
      ],
    });

    const head = await repo.commit('a, b and old', {
      'www/a.txt': 'a1\n',
      'www/b.txt': 'b1 not in the ticket\n',
      'www/old.txt': null,
    });
    const submitted = await ok(
      api,
      people.dev.token,
      'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
      {
        i: { projectId, reason: 'a and old', paths: ['www/a.txt', 'www/old.txt'] },
      },
    );
    const id = submitted.submitTicket.id;
    await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
    const staged = await ok(api, people.dev.token, 'query($id: ID!) { ticket(id: $id) { stagedRevision } }', { id });
    expect(staged.ticket.stagedRevision).toBe(head);
    expect(await readFile(join(dir, 'staging', 'www/b.txt'), 'utf8')).toBe('b0\n');

    // Role checks: a viewer may not act on the ticket; a user outside the project may not even read it.
    const asViewer = await api.gql(
      'mutation($id: ID!) { passTest(id: $id) { id } }',
      { id },
      { token: people.viewer.token },
    );
    expect(asViewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const asOutsider = await api.gql(
      'query($id: ID!) { ticket(id: $id) { id } }',
      { id },
      { token: people.outsider.token },
    );
    expect(asOutsider.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const viewerSubmits = await api.gql(
      'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
      { i: { projectId, reason: 'r', paths: ['www/b.txt'] } },
      { token: people.viewer.token },
    );
    expect(viewerSubmits.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
    await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    await ok(api, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
    expect((await waitForState(api, people.dev.token, id, ['DEPLOYED', 'DEPLOY_FAILED'])).state).toBe('DEPLOYED');

    const ledger = ledgerOf(join(dir, 'data'), projectId);
    expect(await snapshot(target)).toEqual(await tagSnapshot(ledger, 'v1'));
    expect(await readFile(join(target, 'www/a.txt'), 'utf8')).toBe('a1\n');
    expect(await readFile(join(target, 'www/b.txt'), 'utf8')).toBe('b0\n');
    expect(Object.keys(await snapshot(target))).not.toContain('www/old.txt');
    expect(Object.keys(await snapshot(target))).toContain('www/.gitignore');

    // The ticket list is a cursor connection, newest first.
    for (const path of ['www/x1.txt', 'www/x2.txt', 'www/x3.txt']) {
      await repo.commit(path, { [path]: 'x\n' });
      await ok(api, people.dev.token, 'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }', {
        i: { projectId, reason: path, paths: [path] },
      });
    }
    const PAGE =
      'query($p: ID!, $a: String) { tickets(projectId: $p, first: 2, after: $a) { edges { cursor node { reason } } pageInfo { hasNextPage endCursor } } }';
    const page1 = await ok(api, people.viewer.token, PAGE, { p: projectId });
    expect(page1.tickets.edges.map((e: { node: { reason: string } }) => e.node.reason)).toEqual([
      'www/x3.txt',
      'www/x2.txt',
    ]);
    expect(page1.tickets.pageInfo.hasNextPage).toBe(true);
    const page2 = await ok(api, people.viewer.token, PAGE, { p: projectId, a: page1.tickets.pageInfo.endCursor });
    expect(page2.tickets.edges.map((e: { node: { reason: string } }) => e.node.reason)).toEqual([
      'www/x1.txt',
      'a and old',
    ]);
    expect(page2.tickets.pageInfo.hasNextPage).toBe(false);
  }, 60_000);
});

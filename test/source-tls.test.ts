import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { jobLogLines } from '@slipway/schema';
import { like, or } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from './support/api.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, waitFor, waitForState } from './support/flow.ts';
import { GitRepo } from './support/git.ts';
import { type HttpsSource, makeTestCa, startGitHttps, startSvnHttps, type TestCa } from './support/https-sources.ts';
import { SvnRepo } from './support/svn.ts';
import { createWorld, type World } from './support/world.ts';

// The source is fetched over TLS that is checked: svn (Apache with mod_dav_svn) and git (git http-backend behind a
// Node HTTPS server), each with a certificate from a private CA.

let world: World<'dev'>;
let dir: string;
let api: TestApi;
let worker: Worker;
let ca: TestCa;
let svnRepo: SvnRepo;
let gitRepo: GitRepo;
let svn: HttpsSource;
let git: HttpsSource;
let people: World<'dev'>['people'];
const USER = { name: 'deploy', password: 's3cret-over-tls' };

/**
 * Every svn and git command line `ps` shows while the tests run, of this file's own (they name its directory: the
 * staging paths, the data directory): the other test files running beside it make working copies of their own.
 */
const seen = new Set<string>();
let sampling = true;
let sampler: Promise<void>;

beforeAll(async () => {
  world = await createWorld('source-tls', ['dev']);
  ({ dir, api, people } = world);
  ca = await makeTestCa(dir);
  await mkdir(join(dir, 'svn'));
  await mkdir(join(dir, 'git'));
  svnRepo = await SvnRepo.create(join(dir, 'svn'), { 'www/index.html': 'svn v0\n' });
  gitRepo = await GitRepo.create(join(dir, 'git'), 'main', { 'www/index.html': 'git v0\n' });
  svn = await startSvnHttps(dir, join(dir, 'svn', 'svnrepo'), ca, { user: USER });
  git = await startGitHttps(dir, join(dir, 'git', 'origin.git'), ca, { user: USER });
  worker = await startTestWorker(world.database, join(dir, 'data'));
  // What `ps` shows is each process's /proc/<pid>/cmdline: read directly, many times a second.
  sampler = (async () => {
    while (sampling) {
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
        const line = args.join(' ');
        if ((args[0] === 'svn' || args[0] === 'git') && line.includes(dir)) seen.add(line);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
}, 120_000);

afterAll(async () => {
  sampling = false;
  await sampler;
  await worker?.stop();
  await svn?.stop();
  await git?.stop();
  await world?.close();
});

async function create(input: Record<string, unknown>): Promise<string> {
  const data = await ok(
    api,
    people.admin.token,
    'mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }',
    {
      i: input,
    },
  );
  return data.createProject.id;
}

async function settled(projectId: string) {
  const data = await waitFor(
    () => ok(api, people.admin.token, 'query($id: ID!) { project(id: $id) { ready initError } }', { id: projectId }),
    (d) => d.project.ready || d.project.initError,
    60_000,
  );
  return data.project as { ready: boolean; initError: string | null };
}

/** Names the test CA as the project's sourceCaFile (which runs a failed checkout again). */
async function trustCa(projectId: string) {
  await ok(
    api,
    people.admin.token,
    'mutation($id: ID!, $ca: String) { updateProject(id: $id, input: { sourceCaFile: $ca }) { id } }',
    {
      id: projectId,
      ca: ca.caFile,
    },
  );
}

async function member(projectId: string) {
  await ok(
    api,
    people.admin.token,
    'mutation($p: ID!, $u: ID!) { setMember(projectId: $p, userId: $u, role: DEVELOPER) { id } }',
    {
      p: projectId,
      u: people.dev.id,
    },
  );
}

/** Stages a ticket on www/index.html (the source fetched over https again); answers its state. */
async function stage(projectId: string): Promise<string> {
  await member(projectId);
  const data = await ok(api, people.dev.token, 'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }', {
    i: { projectId, reason: 'new page', paths: ['www/index.html'] },
  });
  const done = await waitForState(api, people.dev.token, data.submitTicket.id, ['AWAITING_TEST', 'STAGING_FAILED']);
  return done.state;
}

describe('svn over https', () => {
  it('refuses a certificate it cannot verify, naming the setting; with the CA file it checks out and stages', async () => {
    const projectId = await create({
      name: 'svn-tls',
      sourceType: 'SVN',
      sourceUrl: svn.url,
      stagingPath: join(dir, 'staging-svn'),
      sourceUsername: USER.name,
      sourceSecret: USER.password,
    });
    const failed = await settled(projectId);
    expect(failed.ready).toBe(false);
    expect(failed.initError).toMatch(/certificate could not be verified \(svn: E230001: .*issuer is not trusted\)/);
    expect(failed.initError).toContain('sourceCaFile');
    // Naming the CA runs the checkout again.
    await trustCa(projectId);
    const ready = await settled(projectId);
    expect(ready, ready.initError ?? '').toMatchObject({ ready: true, initError: null });
    await svnRepo.commit('new page', { 'www/index.html': 'svn v1\n' });
    expect(await stage(projectId)).toBe('AWAITING_TEST');
  }, 120_000);

  it('is ready at once when created with its credentials and CA file', async () => {
    const projectId = await create({
      name: 'svn-tls-ready',
      sourceType: 'SVN',
      sourceUrl: svn.url,
      stagingPath: join(dir, 'staging-svn-ready'),
      sourceCaFile: ca.caFile,
      sourceUsername: USER.name,
      sourceSecret: USER.password,
    });
    const jobs = await ok(
      api,
      people.admin.token,
      'query($id: ID!) { project(id: $id) { ready sourceCredentials { username set } } }',
      { id: projectId },
    );
    expect(jobs.project.sourceCredentials).toEqual({ username: USER.name, set: true });
    expect(await settled(projectId)).toMatchObject({ ready: true, initError: null });
    // Without credentials the same server says what is missing, in a sentence.
    const without = await create({
      name: 'svn-tls-anonymous',
      sourceType: 'SVN',
      sourceUrl: svn.url,
      stagingPath: join(dir, 'staging-svn-anonymous'),
      sourceCaFile: ca.caFile,
    });
    expect((await settled(without)).initError).toMatch(/the repository wants a username and password/);
    // One without the other is refused before anything runs.
    const half = await api.gql(
      'mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }',
      {
        i: {
          name: 'half',
          sourceType: 'SVN',
          sourceUrl: svn.url,
          stagingPath: join(dir, 'staging-half'),
          sourceUsername: 'deploy',
        },
      },
      { token: people.admin.token },
    );
    expect(half.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.sourceSecret' });
  }, 120_000);
});

describe('git over https', () => {
  it('refuses a certificate it cannot verify, even with GIT_SSL_NO_VERIFY set; with the CA file it clones and fetches', async () => {
    // An executor started from an environment that would switch git's checks off: Slipway does not pass it on.
    process.env.GIT_SSL_NO_VERIFY = '1';
    try {
      const projectId = await create({
        name: 'git-tls',
        sourceType: 'GIT',
        sourceUrl: git.url,
        branch: 'main',
        stagingPath: join(dir, 'staging-git'),
        sourceUsername: USER.name,
        sourceSecret: USER.password,
      });
      const failed = await settled(projectId);
      expect(failed.initError).toMatch(/certificate could not be verified \(.*server certificate verification failed/);
      expect(failed.initError).toContain('sourceCaFile');
      await trustCa(projectId);
      expect(await settled(projectId)).toMatchObject({ ready: true, initError: null });
      await gitRepo.commit('new page', { 'www/index.html': 'git v1\n' });
      expect(await stage(projectId)).toBe('AWAITING_TEST');
    } finally {
      delete process.env.GIT_SSL_NO_VERIFY;
    }
  }, 120_000);
});

describe('the command lines', () => {
  it('never switch certificate checks off (as ps shows them)', async () => {
    // What `ps` caught, and every command the jobs say they ran (their logs: a clone that lived between two samples of
    // a loaded machine is there too).
    const logged = await world.database.db
      .select({ text: jobLogLines.text })
      .from(jobLogLines)
      .where(or(like(jobLogLines.text, '$ git %'), like(jobLogLines.text, '$ svn %')));
    const lines = [...seen, ...logged.map((l) => l.text.slice(2).replace(/ {3}\(in .*\)$/, ''))];
    expect(lines.some((l) => l.startsWith('svn checkout'))).toBe(true);
    expect(lines.some((l) => l.startsWith('git ') && l.includes(' clone '))).toBe(true);
    for (const line of lines) {
      expect(line).not.toMatch(/trust-server-cert/);
      expect(line).not.toMatch(/sslverify=(false|no|0)/i);
    }
    // Checks are asked for explicitly, so no configuration file can switch them off.
    expect(lines.filter((l) => l.startsWith('svn checkout')).every((l) => l.includes('ssl-trust-default-ca=yes'))).toBe(
      true,
    );
    expect(lines.filter((l) => / (clone|fetch) /.test(l)).every((l) => l.includes('http.sslVerify=true'))).toBe(true);
  });
});

import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { jobs } from '@slipway/schema';
import { asc, eq } from 'drizzle-orm';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactsDir, launchBrowser, signedIn } from './support/browser.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, submitTicket, waitForState } from './support/flow.ts';
import { createReadyProject } from './support/project.ts';
import { repoRoot } from './support/slipway.ts';
import { SvnRepo } from './support/svn.ts';
import { createWorld, type World } from './support/world.ts';

/** `slipway`, the command line, run as a CI job runs it: a subprocess against a real server. */
type Login = 'dev' | 'lead';
let world: World<Login>;
let worker: Worker;
let svn: SvnRepo;
let projectId: string;
const tokens: Record<Login, string> = { dev: '', lead: '' };
const CLI = join(repoRoot, 'packages/cli/dist/slipway.mjs');
const transcript: string[] = [];

beforeAll(async () => {
  world = await createWorld('cli', ['dev', 'lead']);
  await mkdir(join(world.dir, 'svn'), { recursive: true });
  svn = await SvnRepo.create(join(world.dir, 'svn'), { 'www/index.html': 'zero\n', 'www/about.html': 'about\n' });
  worker = await startTestWorker(world.database, join(world.dir, 'data'));
  projectId = await createReadyProject(world.api, world.people.admin, {
    name: 'shop',
    sourceUrl: svn.url,
    stagingPath: join(world.dir, 'staging'),
    // The deploy takes a moment after the copy: output printed live reaches the terminal before the end.
    settings: { postDeploy: 'echo post-deploy hook; sleep 1' },
    targets: [{ name: 'web-1', path: join(world.dir, 'web-1') }],
    members: [
      { user: world.people.dev, role: 'DEVELOPER' },
      { user: world.people.lead, role: 'LEAD' },
    ],
  });
  for (const login of ['dev', 'lead'] as const) {
    const created = await ok(world.api, world.people[login].token, 'mutation { createApiToken(name: "ci") { token } }');
    tokens[login] = created.createApiToken.token;
  }
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await world?.close();
  await mkdir(artifactsDir, { recursive: true });
  await writeFile(join(artifactsDir, 'cli-transcript.txt'), `${transcript.join('\n')}\n`);
});

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** When each chunk of stdout arrived, in ms since the start. */
  chunks: { at: number; text: string }[];
  ms: number;
}

/** Runs the CLI as `who`, as a CI step would (no terminal: plain output). */
async function slipway(who: Login, args: string[], file = CLI, env: Record<string, string> = {}): Promise<Run> {
  const started = performance.now();
  const chunks: Run['chunks'] = [];
  const child = execa('node', [file, ...args], {
    reject: false,
    env: {
      SLIPWAY_URL: world.api.url,
      SLIPWAY_TOKEN: tokens[who],
      XDG_CONFIG_HOME: join(world.dir, `config-${who}`),
      ...env,
    },
    extendEnv: false,
  });
  child.stdout?.on('data', (chunk: Buffer) => chunks.push({ at: performance.now() - started, text: String(chunk) }));
  const result = await child;
  const ms = performance.now() - started;
  transcript.push(
    `$ slipway ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}    # as ${who}, exit ${result.exitCode}, ${Math.round(ms)} ms`,
    ...String(result.stdout).split('\n').filter(Boolean),
    ...String(result.stderr)
      .split('\n')
      .filter(Boolean)
      .map((line) => `(stderr) ${line}`),
    '',
  );
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr), chunks, ms };
}

/** The project's jobs, one line each (kind, state, attempts, when, error): what a failed wait was waiting for. */
async function jobsOf(project: string): Promise<string> {
  const rows = await world.database.db
    .select()
    .from(jobs)
    .where(eq(jobs.projectId, Number(project)))
    .orderBy(asc(jobs.id));
  return rows
    .map(
      (j) =>
        `job ${j.id} ${j.kind} ${j.state} attempt ${j.attempts} created ${j.createdAt.toISOString()} started ${j.startedAt?.toISOString()} finished ${j.finishedAt?.toISOString()} ${j.lastError ?? ''}`,
    )
    .join('\n');
}

describe('slipway, the command line', () => {
  it('takes a ticket from submit to deployed as a CI job would, printing the rsync lines live', async () => {
    await svn.commit('new front page', { 'www/index.html': 'one\n' });
    const listed = await slipway('dev', ['projects']);
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toMatch(/^shop {2}svn {2}production: v0/m);

    const submitted = await slipway('dev', [
      'submit',
      '--project',
      'shop',
      '--reason',
      'new front page',
      '--wait',
      'www/index.html',
    ]);
    expect(submitted.exitCode, submitted.stderr).toBe(0);
    const id = /^#(\d+) AWAITING_TEST/m.exec(submitted.stdout)?.[1];
    expect(id).toBeTruthy();
    expect(submitted.stdout).toContain('changes: modified www/index.html');

    expect((await slipway('dev', ['pass', String(id), '-m', 'looks right'])).stdout).toMatch(/AWAITING_APPROVAL/);
    expect((await slipway('lead', ['approve', String(id)])).stdout).toMatch(/APPROVED/);

    const deployed = await slipway('dev', ['deploy', String(id), '--follow']);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    // rsync's own lines, then the hook's, then the ticket: printed as they happened, not all at the end.
    expect(deployed.stdout).toMatch(/rsync[\s\S]*www\/index\.html[\s\S]*post-deploy hook[\s\S]*#\d+ DEPLOYED/);
    const firstRsync = deployed.chunks.find((c) => c.text.includes('www/index.html'));
    expect(firstRsync).toBeTruthy();
    expect(deployed.ms - (firstRsync?.at ?? deployed.ms)).toBeGreaterThan(500);
    expect(await readFile(join(world.dir, 'web-1', 'www/index.html'), 'utf8')).toBe('one\n');

    // --json: the API's object, for scripts.
    const shown = await slipway('dev', ['show', String(id), '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: String(id), state: 'DEPLOYED', release: { tag: 'v1' } });
    const list = await slipway('dev', ['tickets', '--project', 'shop', '--state', 'DEPLOYED', '--json']);
    expect(JSON.parse(list.stdout).map((t: { id: string }) => t.id)).toEqual([String(id)]);
    // wait: already there.
    expect((await slipway('dev', ['wait', String(id), '--for', 'DEPLOYED', '--timeout', '5'])).exitCode).toBe(0);

    // revert: the change undone as a tool asks for it (prepared, approved by a lead, deployed like a release).
    const reverting = await slipway('dev', ['revert', String(id), '--reason', 'the old front page, for now']);
    expect(reverting.exitCode, reverting.stderr).toBe(0);
    const revertId = /^#(\d+) /m.exec(reverting.stdout)?.[1];
    expect(revertId).toBeTruthy();
    // A behaviour, not a speed: a loaded CI machine once took longer than 30 s here (the project's jobs say why).
    const prepared = await slipway('dev', ['wait', String(revertId), '--for', 'AWAITING_APPROVAL', '--timeout', '90']);
    expect(prepared.exitCode, `${prepared.stderr}\n${await jobsOf(projectId)}`).toBe(0);
    expect((await slipway('lead', ['approve', String(revertId)])).stdout).toMatch(/APPROVED/);
    const undone = await slipway('dev', ['deploy', String(revertId), '--follow']);
    expect(undone.exitCode, undone.stderr).toBe(0);
    expect(undone.stdout).toMatch(/DEPLOYED/);
    expect(await readFile(join(world.dir, 'web-1', 'www/index.html'), 'utf8')).toBe('zero\n');
    // Once undone, it is not undone twice: the server's refusal, its code on stderr.
    const twice = await slipway('dev', ['revert', String(id), '--reason', 'again']);
    expect(twice.exitCode).toBe(3);
    expect(twice.stderr).toMatch(/REVERT_CONFLICT: ticket #\d+ was undone already, by #\d+ \(v2\)/);
  }, 120_000);

  it('exits 1 when the deploy fails, 3 when the server refuses (its code on stderr), 2 on bad usage, 4 on timeout', async () => {
    // A deploy that fails: the target's directory cannot be made.
    const blocked = join(world.dir, 'blocked');
    await writeFile(blocked, 'a file where a directory should be\n');
    const target = await ok(
      world.api,
      world.people.admin.token,
      'mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }',
      {
        p: projectId,
        t: { name: 'web-2', path: join(blocked, 'site') },
      },
    );
    await svn.commit('about', { 'www/about.html': 'about 1\n' });
    const id = await submitTicket(world.api, world.people.dev.token, projectId, 'about page', ['www/about.html']);
    await waitForState(world.api, world.people.dev.token, id, 'AWAITING_TEST');
    expect((await slipway('dev', ['pass', id])).exitCode).toBe(0);
    expect((await slipway('lead', ['approve', id])).exitCode).toBe(0);
    const failed = await slipway('dev', ['deploy', id, '--follow']);
    expect(failed.exitCode).toBe(1);
    expect(failed.stdout).toMatch(/DEPLOY_FAILED/);
    await ok(world.api, world.people.admin.token, 'mutation($id: ID!) { removeTarget(id: $id) }', {
      id: target.addTarget.id,
    });

    // Refused: a developer approving; the server's code on stderr.
    const again = await submitTicket(world.api, world.people.dev.token, projectId, 'again', ['www/index.html']);
    const refused = await slipway('dev', ['approve', again]);
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toMatch(/^slipway: (FORBIDDEN|INVALID_TRANSITION): /m);
    const unknown = await slipway('dev', ['show', '999999']);
    expect(unknown.exitCode).toBe(3);
    expect(unknown.stderr).toContain('NOT_FOUND');
    const badToken = await slipway('dev', ['projects'], CLI, { SLIPWAY_TOKEN: 'not-a-token' });
    expect(badToken.exitCode).toBe(3);
    expect(badToken.stderr).toContain('UNAUTHENTICATED');

    // Usage: an unknown command, a missing option.
    expect((await slipway('dev', ['deploy'])).exitCode).toBe(2);
    expect((await slipway('dev', ['submit', 'www/x.html'])).exitCode).toBe(2);
    expect((await slipway('dev', ['nonsense'])).exitCode).toBe(2);

    // Timed out: waiting for an approval nobody gives.
    await waitForState(world.api, world.people.dev.token, again, 'AWAITING_TEST');
    const waited = await slipway('dev', ['wait', again, '--for', 'APPROVED', '--timeout', '1']);
    expect(waited.exitCode).toBe(4);
    expect(waited.stderr).toMatch(/timed out after 1 s/);
    // A ticket that ends elsewhere than waited for: exit 1.
    await ok(world.api, world.people.dev.token, 'mutation($id: ID!) { cancelTicket(id: $id) { id } }', { id: again });
    expect((await slipway('dev', ['wait', again, '--for', 'DEPLOYED'])).exitCode).toBe(1);
  }, 120_000);

  it('is served by the server as one file that runs on its own, and logs in with a stored token (0600)', async () => {
    const response = await fetch(`${world.api.url}/cli/slipway.mjs`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/javascript/);
    const lonely = join(world.dir, 'elsewhere', 'slipway.mjs');
    await mkdir(join(world.dir, 'elsewhere'), { recursive: true });
    await writeFile(lonely, Buffer.from(await response.arrayBuffer()));
    // Outside the repository, no node_modules near it, no SLIPWAY_* variables: login stores them.
    const login = await execa('node', [lonely, 'login', world.api.url], {
      input: `${tokens.lead}\n`,
      env: { XDG_CONFIG_HOME: join(world.dir, 'config-lonely'), PATH: process.env.PATH ?? '' },
      extendEnv: false,
      cwd: join(world.dir, 'elsewhere'),
      reject: false,
    });
    expect(login.exitCode, login.stderr).toBe(0);
    expect(login.stdout).toContain('as lead');
    const config = join(world.dir, 'config-lonely', 'slipway', 'config.json');
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    const projects = await execa('node', [lonely, 'projects', '--json'], {
      env: { XDG_CONFIG_HOME: join(world.dir, 'config-lonely'), PATH: process.env.PATH ?? '' },
      extendEnv: false,
      cwd: join(world.dir, 'elsewhere'),
    });
    expect(JSON.parse(String(projects.stdout)).map((p: { name: string }) => p.name)).toEqual(['shop']);
    // And `slipway logs` prints a job's output.
    const { ticket } = await ok(
      world.api,
      world.people.dev.token,
      'query($id: ID!) { ticket(id: $id) { jobs { id kind } } }',
      {
        id: '1',
      },
    );
    const stage = ticket.jobs.find((j: { kind: string }) => j.kind === 'STAGE');
    const logs = await slipway('dev', ['logs', stage.id]);
    expect(logs.exitCode).toBe(0);
    expect(logs.stdout).toMatch(/svn update/);
  }, 60_000);
});

describe('the API explorer', () => {
  it('is served at /graphql to a browser, within the Content-Security-Policy, and runs a query as the person', async () => {
    const browser = await launchBrowser();
    try {
      const dev = await signedIn(browser, world.api.url, 'dev', world.people.dev.password);
      const violations: string[] = [];
      dev.page.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
      });
      const response = await dev.page.goto(`${world.api.url}/graphql`);
      expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
      // The editor, the docs, and a query run with the person's own session.
      await dev.page.waitForSelector('.graphiql-container');
      // The editors load after the page does, and the button runs nothing until both exist.
      await dev.page.waitForSelector('.graphiql-query-editor .CodeMirror');
      await dev.page.waitForSelector('.result-window .CodeMirror');
      await dev.page.locator('.graphiql-execute-button').click();
      await expect
        .poll(() => dev.page.locator('.result-window').textContent(), { timeout: 20_000 })
        .toContain('"login": "dev"');
      expect(await dev.page.locator('.result-window').textContent()).toContain('"name": "shop"');
      await dev.page.locator('[aria-label="Show Documentation Explorer"]').click();
      await expect.poll(() => dev.page.locator('.graphiql-doc-explorer').textContent()).toContain('Query');
      await dev.page.screenshot({ path: join(artifactsDir, 'api-explorer.png') });
      expect(violations.map((v) => v.slice(0, 200))).toEqual([]);
      // An API client asking for JSON still gets the API.
      const api = await fetch(`${world.api.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
        headers: { accept: 'application/json', 'x-slipway-csrf': '1' },
      });
      expect(await api.json()).toEqual({ data: { __typename: 'Query' } });
      await dev.context.close();
    } finally {
      await browser.close();
    }
  }, 60_000);
});

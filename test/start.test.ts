import { access, chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/db.ts';
import { waitFor } from './support/flow.ts';
import { BUNDLE_ENV, EXECUTOR_BUNDLE, graphql, repoRoot, SERVER_BUNDLE, startSlipway } from './support/slipway.ts';
import { SvnRepo } from './support/svn.ts';

const PATH = process.env.PATH ?? '/usr/bin:/bin';
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('what `pnpm start` runs', () => {
  it('is what these tests start: the same bundle, Node flags and environment', async () => {
    const { scripts } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8'));
    const env = Object.entries(BUNDLE_ENV).map(([name, value]) => `${name}=${value}`);
    expect(scripts.start).toBe(['node build.mjs &&', ...env, 'node', ...SERVER_BUNDLE].join(' '));
    expect(scripts.executor).toBe(['node build.mjs &&', ...env, 'node', ...EXECUTOR_BUNDLE].join(' '));
  });
});

describe('`pnpm start` on the embedded PostgreSQL', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'slipway-start-'));
    await chmod(dataDir, 0o755);
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('first start: creates the data dir and admin, serves the API; a second start reuses the data', async () => {
    const env = { PATH, SLIPWAY_DATA_DIR: join(dataDir, 'data') };
    const first = await startSlipway(env);
    const printed = first.output.join('\n').match(/Created the user "admin" with the password: (\S+)/);
    expect(printed?.[1]).toBeTruthy();
    const password = printed?.[1] as string;

    expect(await (await fetch(`${first.url}/healthz`)).json()).toEqual({ status: 'ok', database: 'ok' });
    const login = await graphql(first.url, 'mutation($p: String!) { login(login: "admin", password: $p) { token } }', {
      p: password,
    });
    const token = login.data?.login.token as string;
    expect(token).toBeTruthy();
    // A generated password is to be replaced: the console asks for one of the admin's own.
    const me = await graphql(first.url, '{ me { mustChangePassword } }', {}, token);
    expect(me.data?.me.mustChangePassword).toBe(true);
    const user = await graphql(
      first.url,
      'mutation { createUser(input: { login: "dev", name: "Dev", password: "dev password" }) { id } }',
      {},
      token,
    );
    const project = await graphql(
      first.url,
      'mutation { createProject(input: { name: "site", sourceType: SVN, sourceUrl: "file:///srv/svn/site", stagingPath: "/srv/site" }) { id } }',
      {},
      token,
    );
    const projectId = project.data?.createProject.id;
    await graphql(
      first.url,
      'mutation($p: ID!) { addTarget(projectId: $p, input: { name: "web-1", path: "/var/www/site" }) { id } }',
      { p: projectId },
      token,
    );
    const member = await graphql(
      first.url,
      'mutation($p: ID!, $u: ID!) { setMember(projectId: $p, userId: $u, role: DEVELOPER) { members { role } } }',
      { p: projectId, u: user.data?.createUser.id },
      token,
    );
    expect(member.errors).toBeUndefined();

    // The executor started with the server checks out a real svn repository and makes the project ready.
    const svn = await SvnRepo.create(dataDir, { 'www/index.html': 'hello\n' });
    const real = await graphql(
      first.url,
      'mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }',
      { i: { name: 'real', sourceType: 'SVN', sourceUrl: svn.url, stagingPath: join(dataDir, 'staging') } },
      token,
    );
    const readiness = async () =>
      (await graphql(first.url, '{ projects { name ready initError } }', {}, token)).data?.projects as {
        name: string;
        ready: boolean;
        initError: string | null;
      }[];
    const settled = await waitFor(readiness, (ps) => ps.every((p) => p.ready || p.initError !== null));
    expect(real.errors).toBeUndefined();
    expect(settled.find((p) => p.name === 'real')).toEqual({ name: 'real', ready: true, initError: null });
    expect(settled.find((p) => p.name === 'site')?.initError).toMatch(/svn/);
    // The server and its executor work as a role that owns nothing: not the cluster's superuser.
    const state = JSON.parse(await readFile(join(dataDir, 'data', 'postgres.json'), 'utf8'));
    const superuser = postgres(
      `postgres://slipway:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/slipway`,
      {
        max: 1,
        onnotice: () => {},
      },
    );
    try {
      const roles = await superuser`
        select distinct a.application_name as app, a.usename as role, r.rolsuper as super
        from pg_stat_activity a join pg_roles r on r.rolname = a.usename
        where a.application_name in ('slipway-server', 'slipway-executor') order by 1`;
      expect(roles).toEqual([
        { app: 'slipway-executor', role: 'slipway_app', super: false },
        { app: 'slipway-server', role: 'slipway_app', super: false },
      ]);
    } finally {
      await superuser.end();
    }
    expect(first.output.join('\n')).not.toMatch(/superuser or as the owner/);
    expect(await first.stop()).toBe(0);
    // The embedded PostgreSQL was stopped with the server.
    expect(await exists(join(dataDir, 'data', 'postgres', 'postmaster.pid'))).toBe(false);
    const remembered = JSON.parse(await readFile(join(dataDir, 'data', 'postgres.json'), 'utf8'));
    expect(remembered.port).not.toBe(5432);

    const second = await startSlipway(env);
    expect(second.output.join('\n')).not.toMatch(/Created the user/);
    const again = await graphql(second.url, 'mutation($p: String!) { login(login: "admin", password: $p) { token } }', {
      p: password,
    });
    const projects = await graphql(
      second.url,
      '{ projects { name targets { name } members { role user { login } } } }',
      {},
      again.data?.login.token,
    );
    expect(projects.data?.projects).toContainEqual({
      name: 'site',
      targets: [{ name: 'web-1' }],
      members: [{ role: 'DEVELOPER', user: { login: 'dev' } }],
    });

    // A server killed outright leaves its PostgreSQL running; the next start takes it over.
    second.process.kill('SIGKILL');
    await second.process;
    const third = await startSlipway(env);
    expect(third.output.join('\n')).toMatch(/reusing the embedded PostgreSQL|embedded PostgreSQL running/);
    expect((await fetch(`${third.url}/healthz`)).status).toBe(200);
    expect(await third.stop()).toBe(0);
    expect(await exists(join(dataDir, 'data', 'postgres', 'postmaster.pid'))).toBe(false);
  });
});

describe('`pnpm start` with DATABASE_URL', () => {
  it('uses that server and the admin password from SLIPWAY_ADMIN_PASSWORD', async () => {
    const database = await createTestDatabase({ migrate: false });
    try {
      const dataDir = await mkdtemp(join(tmpdir(), 'slipway-ext-'));
      // The owner migrates; Slipway then works as a role that may touch rows only.
      const running = await startSlipway({
        PATH,
        DATABASE_URL: database.url,
        SLIPWAY_MIGRATION_DATABASE_URL: database.adminUrl,
        SLIPWAY_DATA_DIR: dataDir,
        SLIPWAY_ADMIN_PASSWORD: 'configured password',
      });
      expect(await exists(join(dataDir, 'postgres'))).toBe(false);
      expect(running.output.join('\n')).not.toMatch(/superuser or as the owner/);
      const login = await graphql(
        running.url,
        'mutation { login(login: "admin", password: "configured password") { token user { isAdmin } } }',
      );
      expect(login.data?.login.user).toEqual({ isAdmin: true });
      const me = await graphql(running.url, '{ me { mustChangePassword } }', {}, login.data?.login.token);
      expect(me.data?.me.mustChangePassword).toBe(false);
      expect(await running.stop()).toBe(0);
      await rm(dataDir, { recursive: true, force: true });
    } finally {
      await database.drop();
    }
  });
});

describe('bad configuration', () => {
  it.each([
    ['PORT', 'not-a-port'],
    ['DATABASE_URL', 'mysql://localhost/x'],
    ['SLIPWAY_ADMIN_PASSWORD', 'short'],
    ['SLIPWAY_EXECUTOR_POOL', 'a pool; rm'],
  ])('%s=%s stops start-up with one line naming it', async (name, value) => {
    const result = await execa('node', SERVER_BUNDLE, {
      cwd: repoRoot,
      env: { PATH, [name]: value, SLIPWAY_DATA_DIR: join(tmpdir(), 'slipway-never-created') },
      extendEnv: false,
      reject: false,
      timeout: 30_000,
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(new RegExp(`^slipway: bad configuration: ${name}: `));
    expect(await exists(join(tmpdir(), 'slipway-never-created'))).toBe(false);
  });
});

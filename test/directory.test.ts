import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '@slipway/schema';
import { Directory } from '@slipway/server/auth/directory';
import { ConfigError, loadConfig } from '@slipway/server/config';
import { execa, type ResultPromise } from 'execa';
import { Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './support/api.ts';
import { waitForPort } from './support/flow.ts';
import { createWorld, type World } from './support/world.ts';

let world: World<never>;
let api: TestApi;
let slapd: ResultPromise | undefined;
let port: number;
const BASE = 'dc=example,dc=test';
const ROOT = `cn=admin,${BASE}`;
const ROOT_PASSWORD = 'directory-admin-password';

/** A real slapd (Debian's), on a free port with a configuration and database of its own; never a system one. */
async function startSlapd(dir: string): Promise<void> {
  const home = join(dir, 'slapd');
  await mkdir(join(home, 'db'), { recursive: true });
  const config = join(home, 'slapd.conf');
  await writeFile(
    config,
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      'include /etc/ldap/schema/nis.schema',
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'moduleload memberof',
      `pidfile ${join(home, 'slapd.pid')}`,
      'database mdb',
      `suffix "${BASE}"`,
      `rootdn "${ROOT}"`,
      `rootpw ${ROOT_PASSWORD}`,
      `directory ${join(home, 'db')}`,
      'overlay memberof',
    ].join('\n'),
  );
  port ??= await freePort();
  slapd = execa('/usr/sbin/slapd', ['-f', config, '-h', `ldap://127.0.0.1:${port}/`, '-d', '0'], { reject: false });
  await waitForPort(port);
}

async function stopSlapd(): Promise<void> {
  slapd?.kill('SIGTERM');
  await slapd;
  slapd = undefined;
}

const person = (uid: string, cn: string, password: string) => ({
  objectClass: ['inetOrgPerson'],
  uid,
  cn,
  sn: cn.split(' ').at(-1) as string,
  mail: `${uid}@example.test`,
  userPassword: password,
});

beforeAll(async () => {
  world = await createWorld('directory', []);
  await startSlapd(world.dir);
  const client = new Client({ url: `ldap://127.0.0.1:${port}` });
  await client.bind(ROOT, ROOT_PASSWORD);
  await client.add(BASE, { objectClass: ['dcObject', 'organization'], dc: 'example', o: 'Example' });
  await client.add(`ou=people,${BASE}`, { objectClass: ['organizationalUnit'], ou: 'people' });
  await client.add(`ou=groups,${BASE}`, { objectClass: ['organizationalUnit'], ou: 'groups' });
  await client.add(`uid=alice,ou=people,${BASE}`, person('alice', 'Alice Liu', 'alice-directory-pass'));
  await client.add(`uid=bob,ou=people,${BASE}`, person('bob', 'Bob Wang', 'bob-directory-pass'));
  await client.add(`uid=admin,ou=people,${BASE}`, person('admin', 'Directory Admin', 'directory-says-admin'));
  await client.add(`cn=slipway-admins,ou=groups,${BASE}`, {
    objectClass: ['groupOfNames'],
    cn: 'slipway-admins',
    member: `uid=alice,ou=people,${BASE}`,
  });
  await client.unbind();
  api = await startTestApi(world.database, {
    directory: new Directory({
      url: `ldap://127.0.0.1:${port}`,
      bindDn: ROOT,
      bindPassword: ROOT_PASSWORD,
      baseDn: `ou=people,${BASE}`,
      userFilter: '(&(objectClass=inetOrgPerson)(uid={login}))',
      adminGroup: `cn=slipway-admins,ou=groups,${BASE}`,
    }),
  });
}, 60_000);

afterAll(async () => {
  await api?.close();
  await stopSlapd();
  await world?.close();
});

const SIGN_IN =
  'mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token user { login name isAdmin } } }';
const signIn = (l: string, p: string) => api.gql(SIGN_IN, { l, p });

describe('directory sign-in (a real slapd)', () => {
  it('makes the account at the first sign-in, with the name from the directory and admin from the group', async () => {
    const alice = await signIn('alice', 'alice-directory-pass');
    expect(alice.errors).toBeUndefined();
    expect((alice.data as { login: { user: unknown } }).login.user).toEqual({
      login: 'alice',
      name: 'Alice Liu',
      isAdmin: true,
    });
    const bob = await signIn('bob', 'bob-directory-pass');
    expect((bob.data as { login: { user: unknown } }).login.user).toEqual({
      login: 'bob',
      name: 'Bob Wang',
      isAdmin: false,
    });
    // Signed in again: the same account.
    const again = await signIn('alice', 'alice-directory-pass');
    const token = (again.data as { login: { token: string } }).login.token;
    const me = await api.gql('{ me { login name } users { login } }', {}, { token });
    expect((me.data as { users: { login: string }[] }).users.filter((u) => u.login === 'alice')).toHaveLength(1);
  });

  it('refuses a wrong password, an unknown login, an empty password and a filter trick', async () => {
    for (const [l, p] of [
      ['alice', 'wrong'],
      ['nobody', 'whatever'],
      ['bob', ''],
      ['b*', 'bob-directory-pass'],
      ['bob)(uid=*', 'bob-directory-pass'],
    ] as const) {
      const answer = await signIn(l, p);
      expect(answer.errors?.[0]?.extensions?.code, `${l}`).toBe('UNAUTHENTICATED');
      expect(answer.errors?.[0]?.message).toBe('wrong login or password');
    }
  });

  it('keeps local accounts on their own password (the first admin always signs in), also with the directory down', async () => {
    const { admin } = world.people;
    // The directory has an "admin" too, with another password: the local account wins.
    expect((await signIn(admin.login, 'directory-says-admin')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await signIn(admin.login, admin.password)).errors).toBeUndefined();
    await stopSlapd();
    const down = await signIn('bob', 'bob-directory-pass');
    expect(down.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'DIRECTORY_UNAVAILABLE' });
    expect((await signIn(admin.login, admin.password)).errors).toBeUndefined();
    await startSlapd(world.dir);
    expect((await signIn('bob', 'bob-directory-pass')).errors).toBeUndefined();
  });

  it('reports a wrong directory configuration at start in one line', async () => {
    const env = { SLIPWAY_DATA_DIR: world.dir };
    expect(() => loadConfig({ ...env, SLIPWAY_LDAP_URL: 'http://directory' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, SLIPWAY_LDAP_URL: 'http://directory' })).toThrow(/^SLIPWAY_LDAP_URL: /);
    expect(() => loadConfig({ ...env, SLIPWAY_LDAP_URL: 'ldap://directory' })).toThrow(
      /^SLIPWAY_LDAP_BASE_DN: is required/,
    );
    expect(() =>
      loadConfig({
        ...env,
        SLIPWAY_LDAP_URL: 'ldap://d',
        SLIPWAY_LDAP_BASE_DN: BASE,
        SLIPWAY_LDAP_USER_FILTER: 'uid=x',
      }),
    ).toThrow(/^SLIPWAY_LDAP_USER_FILTER: /);
    const broken = new Directory({
      url: `ldap://127.0.0.1:${port}`,
      bindDn: ROOT,
      bindPassword: 'not the password',
      baseDn: BASE,
      userFilter: '(uid={login})',
      adminGroup: undefined,
    });
    expect(await broken.check()).toMatch(/service account .* was refused: invalid credentials/);
    const nowhere = new Directory({
      url: `ldap://127.0.0.1:${await freePort()}`,
      bindDn: undefined,
      bindPassword: undefined,
      baseDn: BASE,
      userFilter: '(uid={login})',
      adminGroup: undefined,
    });
    expect(await nowhere.check()).toMatch(/ECONNREFUSED/);
  });
});

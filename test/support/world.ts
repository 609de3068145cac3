import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestUser, startTestApi, type TestApi, type TestUser } from './api.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface World<Login extends string> {
  /** A temp directory of the test file's own (readable by the postgres user, as embedded PostgreSQL needs). */
  dir: string;
  database: TestDatabase;
  api: TestApi;
  /** `admin` (an administrator) and one user per login asked for, each with a session token. */
  people: Record<Login | 'admin', TestUser>;
  close(): Promise<void>;
}

/** What most whole-system test files start from: a temp dir, their own database, the API, and people. */
export async function createWorld<Login extends string>(name: string, logins: Login[]): Promise<World<Login>> {
  const dir = await mkdtemp(join(tmpdir(), `slipway-${name}-`));
  await chmod(dir, 0o755);
  const database = await createTestDatabase();
  const api = await startTestApi(database);
  const people = { admin: await createTestUser(database, 'admin', { isAdmin: true }) } as Record<
    Login | 'admin',
    TestUser
  >;
  for (const login of logins) people[login] = await createTestUser(database, login);
  return {
    dir,
    database,
    api,
    people,
    close: async () => {
      await api.close();
      await database.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

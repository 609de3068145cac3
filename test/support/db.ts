import { randomBytes } from 'node:crypto';
import { connect, type Database, ensureAppRole, migrate } from '@slipway/schema';
import postgres from 'postgres';
import { inject } from 'vitest';

export interface TestDatabase extends Database {
  /** The role Slipway works as (rows only, no superuser), as the server and executor connect in production. */
  url: string;
  /** The same database as the superuser that made it (for what only an owner may do: migrations, restarts). */
  adminUrl: string;
  name: string;
  drop(): Promise<void>;
}

/** The test suite's app role: like the embedded default's, it owns nothing and may not bypass anything. */
export const TEST_APP_ROLE = 'slipway_app_test';
/** What the test servers and executors seal and open repository credentials with (SLIPWAY_SECRET_KEY). */
export const TEST_SECRET_KEY = 'slipway-test-secret-key-0123456789abcdef';
const TEST_APP_PASSWORD = 'slipway-app-test-password';

export function withDatabase(url: string, name: string, credentials?: { user: string; password: string }): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  if (credentials) {
    parsed.username = credentials.user;
    parsed.password = credentials.password;
  }
  return parsed.toString();
}

/** A freshly created, migrated database of its own; `drop()` removes it (call it in afterAll). */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const serverAdminUrl = inject('adminDatabaseUrl');
  const name = `slipway_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(serverAdminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const adminUrl = withDatabase(serverAdminUrl, name);
  await ensureAppRole(adminUrl, TEST_APP_ROLE, TEST_APP_PASSWORD);
  if (options.migrate !== false) await migrate(adminUrl, { appRole: TEST_APP_ROLE });
  const url = withDatabase(serverAdminUrl, name, { user: TEST_APP_ROLE, password: TEST_APP_PASSWORD });
  const database = connect(url, { max: 5, applicationName: 'slipway-test' });
  return {
    ...database,
    url,
    adminUrl,
    name,
    drop: async () => {
      await database.sql.end({ timeout: 5 });
      const cleanup = postgres(serverAdminUrl, { max: 1, onnotice: () => {} });
      try {
        await cleanup.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

import { randomBytes } from 'node:crypto';
import { connect, type Database, migrate } from '@slipway/schema';
import postgres from 'postgres';
import { inject } from 'vitest';

export interface TestDatabase extends Database {
  url: string;
  name: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** A freshly created, migrated database of its own; `drop()` removes it (call it in afterAll). */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `slipway_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  if (options.migrate !== false) await migrate(url);
  const database = connect(url, { max: 5, applicationName: 'slipway-test' });
  return {
    ...database,
    url,
    name,
    drop: async () => {
      await database.sql.end({ timeout: 5 });
      const cleanup = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await cleanup.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

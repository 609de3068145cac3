import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.ts';
import { closedToOthers, connect } from '../src/db.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase({ migrate: false });
  // The driver's first statement on every new connection reads pg_type; in this database it may not.
  const owner = postgres(database.adminUrl, { max: 1, onnotice: () => {} });
  try {
    await owner`revoke select on pg_catalog.pg_type from public`;
  } finally {
    await owner.end();
  }
});

afterAll(async () => {
  await database?.drop();
});

describe('a connection whose start-up type lookup fails', () => {
  // postgres.js (porsager/postgres#1192) dropped that lookup's promise, so a connection killed or cancelled while it
  // ran (a PostgreSQL restart, a dropped database) ended the whole process with an unhandled rejection.
  it('fails or answers its own queries, and never ends the process with an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    const { sql } = connect(database.url, { max: 2 });
    try {
      const answers = await Promise.allSettled([sql`select 1 as one`, sql`select 2 as two`, sql`select 3 as three`]);
      expect(answers).toHaveLength(3);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
      await sql.end({ timeout: 5 });
    }
  });
});

describe('the embedded PostgreSQL as root', () => {
  it('names the directory on the way that the postgres user could not enter', async () => {
    const top = await mkdtemp(join(tmpdir(), 'slipway-closed-'));
    try {
      await mkdir(join(top, 'a', 'b'), { recursive: true });
      await chmod(top, 0o755);
      await chmod(join(top, 'a'), 0o700);
      expect(await closedToOthers(join(top, 'a', 'b'))).toBe(join(top, 'a'));
      await chmod(join(top, 'a'), 0o711);
      expect(await closedToOthers(join(top, 'a', 'b'))).toBeNull();
    } finally {
      await rm(top, { recursive: true, force: true });
    }
  });
});

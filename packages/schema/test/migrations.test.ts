import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.ts';
import { migrate, migrationsFolder } from '../src/db.ts';
import { projects, ticketEvents, tickets, users } from '../src/tables.ts';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

describe('the committed migrations', () => {
  it('match the drizzle tables (drizzle-kit generates nothing new)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'slipway-migrations-'));
    try {
      await cp(migrationsFolder, out, { recursive: true });
      const before = await readdir(out);
      const result = await execa('pnpm', ['exec', 'drizzle-kit', 'generate'], {
        cwd: packageDir,
        // drizzle-kit takes the output folder relative to its config file.
        env: { SLIPWAY_MIGRATIONS_OUT: relative(packageDir, out) },
        stdin: 'ignore',
        timeout: 60_000,
        reject: false,
      });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/No schema changes/);
      expect(await readdir(out)).toEqual(before);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('a migrated database', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('can be migrated again, and by several starts at once, without change', async () => {
    await Promise.all([migrate(database.url), migrate(database.url), migrate(database.url)]);
    const [row] = await database.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
    expect(row?.n).toBe((await readdir(migrationsFolder)).filter((f) => f.endsWith('.sql')).length);
  });

  it('keeps the audit trail append-only, even for the role Slipway connects as', async () => {
    const [user] = await database.db.insert(users).values({ login: 'dev', name: 'Dev', passwordHash: 'x' }).returning();
    const [project] = await database.db
      .insert(projects)
      .values({ name: 'p', sourceType: 'SVN', sourceUrl: 'file:///r', stagingPath: '/srv/p' })
      .returning();
    if (!user || !project) throw new Error('setup failed');
    const [ticket] = await database.db
      .insert(tickets)
      .values({ projectId: project.id, kind: 'RELEASE', state: 'PENDING_STAGING', reason: 'r', authorId: user.id })
      .returning();
    if (!ticket) throw new Error('setup failed');
    await database.db.insert(ticketEvents).values({
      ticketId: ticket.id,
      projectId: project.id,
      action: 'submit',
      toState: 'PENDING_STAGING',
      actorId: user.id,
    });

    await expect(database.sql`update ticket_events set comment = 'rewritten'`).rejects.toThrow(/append-only/);
    await expect(database.sql`delete from ticket_events`).rejects.toThrow(/append-only/);
    await expect(database.sql`truncate ticket_events cascade`).rejects.toThrow(/append-only/);
    const [row] = await database.db.execute(sql`select count(*)::int as n, max(comment) as c from ticket_events`);
    expect(row).toEqual({ n: 1, c: null });
  });
});

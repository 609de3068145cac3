import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate as drizzleMigrate } from 'drizzle-orm/postgres-js/migrator';
import { execa } from 'execa';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, TEST_APP_ROLE, type TestDatabase } from '../../../test/support/db.ts';
import { migrate, migrationsFolder } from '../src/db.ts';
import { firstEnvironment } from '../src/environments.ts';
import { projects, releases, ticketEvents, tickets, users } from '../src/tables.ts';

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
    const again = () => migrate(database.adminUrl, { appRole: TEST_APP_ROLE });
    await Promise.all([again(), again(), again()]);
    const owner = postgres(database.adminUrl, { max: 1, onnotice: () => {} });
    const [row] = await owner`select count(*)::int as n from drizzle.__drizzle_migrations`.finally(() => owner.end());
    expect(row?.n).toBe((await readdir(migrationsFolder)).filter((f) => f.endsWith('.sql')).length);
  });

  it('keeps the audit trail append-only, for the role Slipway connects as and even for the owner', async () => {
    const [user] = await database.db.insert(users).values({ login: 'dev', name: 'Dev', passwordHash: 'x' }).returning();
    const [project] = await database.db
      .insert(projects)
      .values({ name: 'p', sourceType: 'SVN', sourceUrl: 'file:///r', stagingPath: '/srv/p' })
      .returning();
    if (!user || !project) throw new Error('setup failed');
    const [ticket] = await database.db
      .insert(tickets)
      .values({
        projectId: project.id,
        environmentId: (await firstEnvironment(database.db, project.id)).id,
        kind: 'RELEASE',
        state: 'PENDING_STAGING',
        reason: 'r',
        authorId: user.id,
      })
      .returning();
    if (!ticket) throw new Error('setup failed');
    await database.db.insert(ticketEvents).values({
      ticketId: ticket.id,
      projectId: project.id,
      action: 'submit',
      toState: 'PENDING_STAGING',
      actorId: user.id,
    });

    // Two layers: the role Slipway connects as may only read and append; even the owner is stopped by the trigger.
    await expect(database.sql`update ticket_events set comment = 'rewritten'`).rejects.toThrow(/permission denied/);
    await expect(database.sql`delete from ticket_events`).rejects.toThrow(/permission denied/);
    await expect(database.sql`truncate ticket_events cascade`).rejects.toThrow(/permission denied/);
    const owner = postgres(database.adminUrl, { max: 1, onnotice: () => {} });
    try {
      await expect(owner`update ticket_events set comment = 'rewritten'`).rejects.toThrow(/append-only/);
      await expect(owner`delete from ticket_events`).rejects.toThrow(/append-only/);
      await expect(owner`truncate ticket_events cascade`).rejects.toThrow(/append-only/);
    } finally {
      await owner.end();
    }
    const [row] = await database.db.execute(sql`select count(*)::int as n, max(comment) as c from ticket_events`);
    expect(row).toEqual({ n: 1, c: null });
  });

  it('gives the role Slipway connects as rows only: it cannot switch the protections off or rewrite releases', async () => {
    const [me] =
      await database.sql`select rolsuper, rolbypassrls, rolcreaterole from pg_roles where rolname = current_user`;
    expect(me).toEqual({ rolsuper: false, rolbypassrls: false, rolcreaterole: false });
    await expect(database.sql`alter table ticket_events disable trigger all`).rejects.toThrow(/must be owner/);
    await expect(database.sql`drop trigger ticket_events_no_update_delete on ticket_events`).rejects.toThrow(
      /must be owner/,
    );
    await expect(database.sql`alter table releases disable trigger releases_permanent`).rejects.toThrow(
      /must be owner/,
    );
    await expect(database.sql`set session_replication_role = replica`).rejects.toThrow(/permission denied/);

    const [project] = await database.db
      .insert(projects)
      .values({ name: 'released', sourceType: 'SVN', sourceUrl: 'file:///r', stagingPath: '/srv/released' })
      .returning();
    if (!project) throw new Error('setup failed');
    const [release] = await database.db
      .insert(releases)
      .values({ projectId: project.id, number: 0, commit: 'a'.repeat(40) })
      .returning();
    if (!release) throw new Error('setup failed');
    await expect(database.sql`delete from releases`).rejects.toThrow(/permission denied/);
    await expect(database.sql`truncate releases cascade`).rejects.toThrow(/permission denied/);
    await expect(database.sql`update releases set commit = ${'b'.repeat(40)}`).rejects.toThrow(/permanent/);
    await expect(database.sql`update releases set number = 7`).rejects.toThrow(/permanent/);
    // Marking a release bad is what a rollback does: that stays possible.
    await database.sql`update releases set rolled_back_at = now() where id = ${release.id}`;
    const [after] = await database.sql`select number, commit, rolled_back_at is not null as bad from releases`;
    expect(after).toEqual({ number: 0, commit: 'a'.repeat(40), bad: true });

    // Even the owner cannot delete a release: the trigger refuses it.
    const owner = postgres(database.adminUrl, { max: 1, onnotice: () => {} });
    try {
      await expect(owner`delete from releases`).rejects.toThrow(/permanent/);
    } finally {
      await owner.end();
    }
  });
});

describe('the environments migration (0019)', () => {
  it('makes every existing project one environment, production, holding its targets, tickets and live version', async () => {
    const database = await createTestDatabase({ migrate: false });
    const folder = await mkdtemp(join(tmpdir(), 'slipway-migrations-0018-'));
    const owner = postgres(database.adminUrl, { max: 1, onnotice: () => {} });
    try {
      // The database as the version before environments left it.
      await cp(migrationsFolder, folder, { recursive: true });
      const journal = JSON.parse(await readFile(join(folder, 'meta/_journal.json'), 'utf8'));
      journal.entries = journal.entries.filter((e: { idx: number }) => e.idx <= 18);
      await writeFile(join(folder, 'meta/_journal.json'), JSON.stringify(journal));
      await drizzleMigrate(drizzle(owner), { migrationsFolder: folder });
      const [user] =
        await owner`insert into users (login, name, password_hash) values ('dev', 'Dev', 'x') returning id`;
      const [project] = await owner`insert into projects (name, source_type, source_url, staging_path)
        values ('old', 'SVN', 'file:///r', '/srv/old') returning id`;
      const [release] = await owner`insert into releases (project_id, number, commit)
        values (${project?.id}, 0, ${'a'.repeat(40)}) returning id`;
      await owner`update projects set live_release_id = ${release?.id} where id = ${project?.id}`;
      await owner`insert into targets (project_id, name, path) values (${project?.id}, 'web1', '/var/www/1'),
        (${project?.id}, 'web2', '/var/www/2')`;
      await owner`insert into tickets (project_id, kind, state, reason, author_id)
        values (${project?.id}, 'RELEASE', 'AWAITING_TEST', 'r', ${user?.id})`;

      await migrate(database.adminUrl, { appRole: TEST_APP_ROLE });
      const [environment, ...others] = await owner`select id, name, position, live_release_id from environments
        where project_id = ${project?.id}`;
      expect(others).toEqual([]);
      expect(environment).toMatchObject({ name: 'production', position: 0, live_release_id: release?.id });
      const homes = await owner`select distinct environment_id from targets
        union select distinct environment_id from tickets`;
      expect(homes.map((r) => r.environment_id)).toEqual([environment?.id]);
      // A project made afterwards starts with its own.
      const [fresh] = await owner`insert into projects (name, source_type, source_url, staging_path)
        values ('new', 'SVN', 'file:///n', '/srv/new') returning id`;
      const made = await owner`select name from environments where project_id = ${fresh?.id}`;
      expect(made).toEqual([{ name: 'production' }]);
    } finally {
      await owner.end();
      await rm(folder, { recursive: true, force: true });
      await database.drop();
    }
  });
});

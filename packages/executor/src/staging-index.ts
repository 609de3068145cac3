import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type DbOrTx, projects, stagingPaths } from '@slipway/schema';
import { and, eq, gte, isNull, lt, notExists, or, sql } from 'drizzle-orm';

/** Entries kept per project: past this, a huge tree is listed in part (suggestions only, never a decision). */
export const MAX_ENTRIES = 500_000;
const BATCH = 5000;

export interface StagingEntry {
  path: string;
  directory: boolean;
}

/** Version-control metadata is never content (and never a ticket path). */
const skipped = (name: string) => name === '.svn' || name === '.git';

/** The files and directories under `root/under` (or all of `root`), depth first, without following links. */
export async function walkStaging(root: string, under = '', limit = MAX_ENTRIES): Promise<StagingEntry[]> {
  const found: StagingEntry[] = [];
  const walk = async (relative: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(relative ? join(root, relative) : root, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (found.length >= limit) return;
      if (skipped(entry.name)) continue;
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      const directory = entry.isDirectory();
      found.push({ path, directory });
      if (directory) await walk(path);
    }
  };
  await walk(under);
  return found;
}

async function insert(db: DbOrTx, projectId: number, entries: StagingEntry[]): Promise<void> {
  for (let i = 0; i < entries.length; i += BATCH) {
    await db
      .insert(stagingPaths)
      .values(entries.slice(i, i + BATCH).map((entry) => ({ projectId, ...entry })))
      .onConflictDoNothing();
  }
}

/** Lists the whole staging copy anew (after a checkout, a relocation, a new branch). Answers how many entries. */
export async function indexStaging(db: DbOrTx, projectId: number, root: string): Promise<number> {
  const entries = await walkStaging(root);
  await db.delete(stagingPaths).where(eq(stagingPaths.projectId, projectId));
  await insert(db, projectId, entries);
  return entries.length;
}

/**
 * Lists again what a staging changed: each ticket path (gone, a file, or a directory and all under it) and the
 * directories above it (an update may have made them).
 */
export async function reindexPaths(db: DbOrTx, projectId: number, root: string, paths: string[]): Promise<void> {
  for (const path of paths) {
    // In byte order every path under `p/` lies in [`p/`, `p0`): "0" follows "/".
    await db
      .delete(stagingPaths)
      .where(
        and(
          eq(stagingPaths.projectId, projectId),
          or(eq(stagingPaths.path, path), and(gte(stagingPaths.path, `${path}/`), lt(stagingPaths.path, `${path}0`))),
        ),
      );
    const stat = await lstat(join(root, path)).catch(() => null);
    if (!stat) continue;
    const parts = path.split('/');
    const above = parts.slice(0, -1).map((_part, i) => ({ path: parts.slice(0, i + 1).join('/'), directory: true }));
    const directory = stat.isDirectory();
    await insert(db, projectId, [...above, { path, directory }, ...(directory ? await walkStaging(root, path) : [])]);
  }
}

/**
 * The pool's ready projects whose staging copy was never listed (made before Slipway kept the list): listed now,
 * from this executor's disk, when the copy is there.
 */
export async function indexUnlisted(db: DbOrTx, pool: string): Promise<number> {
  const unlisted = await db
    .select({ id: projects.id, stagingPath: projects.stagingPath })
    .from(projects)
    .where(
      and(
        eq(projects.pool, pool),
        eq(projects.ready, true),
        isNull(projects.archivedAt),
        notExists(db.select({ one: sql`1` }).from(stagingPaths).where(eq(stagingPaths.projectId, projects.id))),
      ),
    );
  let listed = 0;
  for (const project of unlisted) {
    if (!(await lstat(project.stagingPath).catch(() => null))) continue;
    await indexStaging(db, project.id, project.stagingPath);
    listed++;
  }
  return listed;
}

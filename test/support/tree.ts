import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/** Visits every entry under `dir`, sorted, depth first. */
async function walk(dir: string, visit: (path: string, stat: Stats, full: string) => Promise<void>): Promise<void> {
  async function into(relative: string) {
    for (const name of (await readdir(join(dir, relative))).sort()) {
      const path = relative ? `${relative}/${name}` : name;
      const stat = await lstat(join(dir, path));
      await visit(path, stat, join(dir, path));
      if (stat.isDirectory()) await into(path);
    }
  }
  await into('');
}

const contentHash = async (full: string) =>
  createHash('sha256')
    .update(await readFile(full))
    .digest('hex');

/**
 * Every file and link under `dir` with its content hash: two equal snapshots mean byte-for-byte equal trees
 * (directories are left out: git, and so a tag, does not keep empty ones).
 */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  await walk(dir, async (path, stat, full) => {
    if (stat.isSymbolicLink()) out[path] = `link ${await readlink(full)}`;
    else if (!stat.isDirectory()) out[path] = await contentHash(full);
  });
  return out;
}

/** The snapshot of a tag of the ledger (git archive of the tag). */
export async function tagSnapshot(ledger: string, tag: string): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-tag-'));
  try {
    const archive = join(dir, 'a.tar');
    await execa('git', ['-C', ledger, 'archive', '--format=tar', '-o', archive, tag]);
    await execa('tar', ['-xf', archive, '-C', dir]);
    await rm(archive);
    return await snapshot(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Every entry under `dir` — directories too, and each file's permission bits — so two equal snapshots mean trees a
 * person could not tell apart (content, modes, links, empty directories), whatever the modification times.
 */
export async function exactSnapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  await walk(dir, async (path, stat, full) => {
    const mode = (stat.mode & 0o777).toString(8);
    if (stat.isDirectory()) out[path] = `dir ${mode}`;
    else if (stat.isSymbolicLink()) out[path] = `link ${await readlink(full)}`;
    else out[path] = `file ${mode} ${await contentHash(full)}`;
  });
  return out;
}

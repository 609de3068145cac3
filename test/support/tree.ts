import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * Every file and link under `dir` with its content hash: two equal snapshots mean byte-for-byte equal trees
 * (directories are left out: git, and so a tag, does not keep empty ones).
 */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(relative: string) {
    for (const name of (await readdir(join(dir, relative))).sort()) {
      const path = relative ? `${relative}/${name}` : name;
      const stat = await lstat(join(dir, path));
      if (stat.isDirectory()) await walk(path);
      else if (stat.isSymbolicLink()) out[path] = `link ${await readlink(join(dir, path))}`;
      else
        out[path] = createHash('sha256')
          .update(await readFile(join(dir, path)))
          .digest('hex');
    }
  }
  await walk('');
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

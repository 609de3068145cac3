import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

const METADATA = new Set(['.svn', '.git']);

async function fileHash(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function describe(root: string, relative: string, out: string[]): Promise<void> {
  const full = join(root, relative);
  let stat: Awaited<ReturnType<typeof lstat>>;
  try {
    stat = await lstat(full);
  } catch {
    out.push(`absent ${relative}`);
    return;
  }
  if (stat.isSymbolicLink()) out.push(`link ${relative} ${await readlink(full)}`);
  else if (stat.isFile()) out.push(`file ${relative} ${(stat.mode & 0o777).toString(8)} ${await fileHash(full)}`);
  else if (stat.isDirectory()) {
    out.push(`dir ${relative}`);
    const names = (await readdir(full)).filter((name) => !METADATA.has(name)).sort();
    for (const name of names) await describe(root, join(relative, name), out);
  } else out.push(`other ${relative}`);
}

/**
 * Rule 4: a fingerprint of what the ticket's paths hold under `root` (content, permissions, links, absence),
 * leaving out .svn and .git, so the tested content can be recognised at deploy time in another tree.
 */
export async function fingerprint(root: string, paths: string[]): Promise<string> {
  const lines: string[] = [];
  for (const path of [...paths].sort()) await describe(root, path, lines);
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

const METADATA = new Set(['.svn', '.git']);

/** One thing under a ticket's paths, as the fingerprint and the release's tree see it. */
export type TreeEntry =
  | { kind: 'absent'; path: string }
  | { kind: 'dir'; path: string }
  | { kind: 'file'; path: string; mode: number; content: Buffer }
  | { kind: 'link'; path: string; target: string }
  | { kind: 'other'; path: string };

/**
 * Walks `paths` under `root` in a fixed order (sorted, depth first), leaving out .svn and .git, reading each file
 * once: what it yields is both what the fingerprint covers and what a release made from it holds.
 */
export async function* walkPaths(root: string, paths: string[]): AsyncGenerator<TreeEntry> {
  async function* describe(relative: string): AsyncGenerator<TreeEntry> {
    const full = join(root, relative);
    const stat = await lstat(full).catch(() => null);
    if (!stat) yield { kind: 'absent', path: relative };
    else if (stat.isSymbolicLink()) yield { kind: 'link', path: relative, target: await readlink(full) };
    else if (stat.isFile())
      yield { kind: 'file', path: relative, mode: stat.mode & 0o777, content: await readFile(full) };
    else if (stat.isDirectory()) {
      yield { kind: 'dir', path: relative };
      const names = (await readdir(full)).filter((name) => !METADATA.has(name)).sort();
      for (const name of names) yield* describe(join(relative, name));
    } else yield { kind: 'other', path: relative };
  }
  for (const path of [...paths].sort()) yield* describe(path);
}

/** The fingerprint's line for one entry. */
function line(entry: TreeEntry): string {
  switch (entry.kind) {
    case 'absent':
      return `absent ${entry.path}`;
    case 'link':
      return `link ${entry.path} ${entry.target}`;
    case 'file':
      return `file ${entry.path} ${entry.mode.toString(8)} ${createHash('sha256').update(entry.content).digest('hex')}`;
    case 'dir':
      return `dir ${entry.path}`;
    default:
      return `other ${entry.path}`;
  }
}

/** Folds entries into a fingerprint, one at a time (so a walk can feed something else on the way). */
export class Fingerprinter {
  private readonly lines: string[] = [];

  add(entry: TreeEntry): void {
    this.lines.push(line(entry));
  }

  digest(): string {
    return createHash('sha256').update(this.lines.join('\n')).digest('hex');
  }
}

/**
 * Rule 4: a fingerprint of what the ticket's paths hold under `root` (content, permissions, links, absence),
 * leaving out .svn and .git, so the tested content can be recognised at deploy time in another tree.
 */
export async function fingerprint(root: string, paths: string[]): Promise<string> {
  const fingerprinter = new Fingerprinter();
  for await (const entry of walkPaths(root, paths)) fingerprinter.add(entry);
  return fingerprinter.digest();
}

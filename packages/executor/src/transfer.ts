import { posix } from 'node:path';
import { gitOutput } from './tools/git.ts';
import { ALWAYS_EXCLUDED } from './tools/rsync.ts';
import type { RunOptions } from './tools/run.ts';

export type ChangeKind = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface PathChange {
  path: string;
  change: ChangeKind;
}

/**
 * What never reaches a target from a release, and what rsync never deletes there: the project's excludes and its shared
 * paths (anchored at the root: `uploads` is `/uploads`, not any `uploads` below). Shared paths are validated to hold no
 * pattern characters.
 */
export function shippingExcludes(project: { excludes: string[]; sharedPaths: string[] }): string[] {
  return [...project.excludes, ...project.sharedPaths.map((path) => `/${path}`)];
}

/** What turns one tree of the ledger into another, as a changed-files transfer needs it. */
export interface TreeDiff {
  /** Files and links added, modified (content, mode or type) and deleted; excluded paths left out. */
  changes: PathChange[];
  /** Directories the first tree has and the second has not (removed once empty). */
  emptied: string[];
}

function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        out += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replaceAll('\\', '\\\\')}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return out;
}

/**
 * rsync's exclude rules as a test on a path of the tree (relative, `/`-separated): a pattern without `/` matches a
 * name at any depth, one with `/` (or `**`) the path's end (from the root with a leading `/`), a trailing `/` only
 * directories; anything inside an excluded directory is excluded. Pure, for testing.
 */
export function excludeMatcher(patterns: string[]): (path: string) => boolean {
  const rules = [...ALWAYS_EXCLUDED, ...patterns].map((raw) => {
    let pattern = raw;
    const anchored = pattern.startsWith('/');
    if (anchored) pattern = pattern.slice(1);
    const dirOnly = pattern.endsWith('/');
    if (dirOnly) pattern = pattern.replace(/\/+$/, '');
    const wholePath = anchored || pattern.includes('/') || pattern.includes('**');
    const body = globToRegex(pattern);
    const regex = new RegExp(wholePath ? (anchored ? `^${body}$` : `(^|/)${body}$`) : `^${body}$`);
    return { regex, dirOnly, wholePath };
  });
  return (path) => {
    const parts = path.split('/');
    for (let depth = 1; depth <= parts.length; depth++) {
      const candidate = parts.slice(0, depth).join('/');
      const isDir = depth < parts.length;
      for (const rule of rules) {
        if (rule.dirOnly && !isDir) continue;
        if (rule.regex.test(rule.wholePath ? candidate : (parts[depth - 1] as string))) return true;
      }
    }
    return false;
  };
}

function parentsOf(paths: Iterable<string>): Set<string> {
  const dirs = new Set<string>();
  for (const path of paths) {
    for (let dir = posix.dirname(path); dir !== '.' && !dirs.has(dir); dir = posix.dirname(dir)) dirs.add(dir);
  }
  return dirs;
}

const STATUS: Record<string, ChangeKind> = { A: 'ADDED', M: 'MODIFIED', T: 'MODIFIED', D: 'DELETED' };

/**
 * The changes from `from` (a tag or commit of the ledger) to `to` (another), without renames (a rename is a deletion
 * and an addition).
 */
export async function diffTrees(
  ledger: string,
  from: string,
  to: string,
  excludes: string[],
  options: RunOptions,
): Promise<TreeDiff> {
  const quiet = { ...options, quietStdout: true };
  const range = [from, to];
  const [listing, before, after] = await Promise.all([
    gitOutput(ledger, ['diff', '--name-status', '-z', '--no-renames', ...range], quiet),
    gitOutput(ledger, ['ls-tree', '-r', '-z', '--name-only', from], quiet),
    gitOutput(ledger, ['ls-tree', '-r', '-z', '--name-only', to], quiet),
  ]);
  const excluded = excludeMatcher(excludes);
  const changes: PathChange[] = [];
  const fields = listing.split('\0');
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const change = STATUS[(fields[i] as string).charAt(0)];
    const path = fields[i + 1] as string;
    if (change && path && !excluded(path)) changes.push({ path, change });
  }
  const kept = parentsOf(after.split('\0').filter(Boolean));
  const emptied = [...parentsOf(before.split('\0').filter(Boolean))].filter((d) => !kept.has(d) && !excluded(d));
  return { changes, emptied };
}

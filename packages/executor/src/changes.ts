import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ticketChanges } from '@slipway/schema';
import { createTwoFilesPatch } from 'diff';
import { execa } from 'execa';
import { gitOutput } from './tools/git.ts';
import type { RunOptions } from './tools/run.ts';

export type Change = Omit<typeof ticketChanges.$inferInsert, 'ticketId' | 'id'>;

/** Text files up to this size get a diff. */
export const MAX_TEXT = 256 * 1024;
const MAX_DIFFS = 500;
const MAX_COMPARED = 1000;
const METADATA = new Set(['.svn', '.git']);

/** git's own object id of a blob (or of a link's target), so staging files compare with the ledger's without a process each. */
function blobId(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

interface Entry {
  id: string;
  read: () => Promise<Buffer>;
}

async function stagingEntries(root: string, paths: string[]): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  async function walk(relative: string) {
    const full = join(root, relative);
    const stat = await lstat(full).catch(() => null);
    if (!stat) return;
    if (stat.isDirectory()) {
      for (const name of (await readdir(full)).sort()) if (!METADATA.has(name)) await walk(join(relative, name));
    } else if (stat.isSymbolicLink()) {
      const target = Buffer.from(await readlink(full));
      out.set(relative, { id: blobId(target), read: async () => target });
    } else if (stat.isFile()) {
      const content = await readFile(full);
      out.set(relative, { id: blobId(content), read: async () => content });
    }
  }
  for (const path of paths) await walk(path);
  return out;
}

async function ledgerEntries(ledger: string, base: string, paths: string[], options: RunOptions) {
  const out = new Map<string, Entry>();
  const listing = await gitOutput(ledger, ['ls-tree', '-r', '-z', base, '--', ...paths], options);
  for (const record of listing.split('\0')) {
    const match = /^\d+ blob ([0-9a-f]+)\t(.+)$/s.exec(record);
    if (!match?.[1] || !match[2]) continue;
    const [, id, path] = match;
    out.set(path, {
      id,
      read: async () => {
        const { stdout } = await execa('git', ['-C', ledger, 'cat-file', 'blob', id], {
          encoding: 'buffer',
          stripFinalNewline: false,
          cancelSignal: options.signal,
        });
        return Buffer.from(stdout);
      },
    });
  }
  return out;
}

/** At most MAX_TEXT bytes, and no NUL byte in the first 8 KiB. */
export const isText = (content: Buffer) => content.length <= MAX_TEXT && !content.subarray(0, 8192).includes(0);

/**
 * What the ticket's paths in staging change against `base` in the ledger: files added, modified and deleted, with a
 * unified diff of each text file (binary files and files over 256 KiB are named only; 500 diffs at most).
 */
export async function computeChanges(
  staging: string,
  ledger: string,
  base: string,
  paths: string[],
  options: RunOptions,
): Promise<Change[]> {
  const [now, before] = await Promise.all([
    stagingEntries(staging, paths),
    ledgerEntries(ledger, base, paths, options),
  ]);
  return describeChanges(now, before);
}

/** The changes from the `before` entries to the `now` entries, with diffs (see computeChanges). */
async function describeChanges(now: Map<string, Entry>, before: Map<string, Entry>): Promise<Change[]> {
  const changes: Change[] = [];
  const names = [...new Set([...now.keys(), ...before.keys()])].sort();
  for (const path of names) {
    const after = now.get(path);
    const old = before.get(path);
    if (after && old && after.id === old.id) continue;
    const change: Change['change'] = !old ? 'ADDED' : !after ? 'DELETED' : 'MODIFIED';
    if (changes.filter((c) => c.diff !== null).length >= MAX_DIFFS) {
      changes.push({ path, change, binary: false, diff: null, truncated: true });
      continue;
    }
    const [oldContent, newContent] = await Promise.all([
      old?.read() ?? Buffer.alloc(0),
      after?.read() ?? Buffer.alloc(0),
    ]);
    if (!isText(oldContent) || !isText(newContent)) {
      const binary = oldContent.subarray(0, 8192).includes(0) || newContent.subarray(0, 8192).includes(0);
      changes.push({ path, change, binary, diff: null, truncated: !binary });
      continue;
    }
    const diff = createTwoFilesPatch(
      old ? `a/${path}` : '/dev/null',
      after ? `b/${path}` : '/dev/null',
      oldContent.toString('utf8'),
      newContent.toString('utf8'),
    );
    changes.push({ path, change, binary: false, diff, truncated: false });
  }
  return changes;
}

/**
 * What turns release `from` into release `to` (two tags of the ledger), with the diffs, as a ticket's changes are
 * described: for the comparison of any two versions (and what a rollback reverts).
 */
export async function compareTags(ledger: string, from: string, to: string, options: RunOptions): Promise<Change[]> {
  const listing = await gitOutput(ledger, ['diff', '--name-only', '-z', '--no-renames', from, to], {
    ...options,
    quietStdout: true,
  });
  // The first MAX_COMPARED paths are described (a command line holds them); a bigger change is rarer than a page shows.
  const paths = listing.split('\0').filter(Boolean).slice(0, MAX_COMPARED);
  if (paths.length === 0) return [];
  const [before, now] = await Promise.all([
    ledgerEntries(ledger, from, paths, options),
    ledgerEntries(ledger, to, paths, options),
  ]);
  return describeChanges(now, before);
}

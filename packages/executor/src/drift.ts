import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { targetVerifications } from '@slipway/schema';
import { createTwoFilesPatch } from 'diff';
import { isText, MAX_TEXT } from './changes.ts';
import type { TargetRow, TargetShell } from './targets.ts';
import { checkOutLedgerTree } from './tools/git.ts';
import { itemizedChanges, rsync } from './tools/rsync.ts';
import type { RunOptions } from './tools/run.ts';
import type { ChangeKind, PathChange } from './transfer.ts';

export interface DriftedPath extends PathChange {
  /** For a modified text file (both sides at most 256 KiB): the unified diff from the release to the target. */
  diff: string | null;
}

export type Verification = Omit<typeof targetVerifications.$inferInsert, 'drifted'> & { drifted: DriftedPath[] };

/** Paths kept per verification (the count is kept whole), and diffs fetched per target. */
export const MAX_RECORDED_DRIFT = 1000;
export const MAX_DRIFT_DIFFS = 20;

const OPPOSITE: Record<ChangeKind, ChangeKind> = { ADDED: 'DELETED', DELETED: 'ADDED', MODIFIED: 'MODIFIED' };

function ancestors(paths: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const path of paths) {
    for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) out.add(path.slice(0, i));
  }
  return out;
}

/**
 * What differs on a target, from rsync's dry run of the release to it (`--checksum --delete`): what rsync would
 * create the target lacks (DELETED there), what it would delete the target has in excess (ADDED), what it would
 * change in content, size, permissions or link value was MODIFIED. A path whose type changed (a file where the
 * release has a directory, or the other way round) is MODIFIED, and what the target holds beneath it is listed as
 * well. Pure, for testing.
 */
export function driftFromDryRun(output: string): PathChange[] {
  const drift = itemizedChanges(output).map((item) => ({ path: item.path, change: OPPOSITE[item.change] }));
  const underAdded = ancestors(drift.filter((d) => d.change === 'ADDED').map((d) => d.path));
  const underDeleted = ancestors(drift.filter((d) => d.change === 'DELETED').map((d) => d.path));
  for (const d of drift) {
    if ((d.change === 'DELETED' && underAdded.has(d.path)) || (d.change === 'ADDED' && underDeleted.has(d.path)))
      d.change = 'MODIFIED';
  }
  return drift.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * A work tree of the project's ledger that holds one tag at a time (targets are compared with it); callers wanting
 * different tags take turns, callers wanting the same one share it.
 */
export class VerifyTree {
  private tag: string | null = null;
  private ready: Promise<void> = Promise.resolve();
  private users = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly ledger: string,
    readonly dir: string,
    private readonly options: RunOptions,
  ) {}

  async with<T>(tag: string, work: (dir: string) => Promise<T>): Promise<T> {
    while (this.tag !== tag && this.users > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.tag !== tag) {
      this.tag = tag;
      this.ready = checkOutLedgerTree(this.ledger, this.dir, tag, this.options).catch((error) => {
        this.tag = null;
        throw error;
      });
    }
    this.users++;
    try {
      await this.ready;
      return await work(this.dir);
    } finally {
      this.users--;
      if (this.users === 0) for (const wake of this.waiters.splice(0)) wake();
    }
  }
}

export interface VerifySettings {
  deployMode: 'IN_PLACE' | 'ATOMIC';
  /** What is never compared: the project's excludes and its shared paths (shippingExcludes). */
  excludes: string[];
  sshKeyPath: string | null;
  knownHostsPath: string | null;
}

/**
 * Compares one target with the release it should hold (`tree`: that release checked out), over the job's connection:
 * rsync's dry run with checksums (contents, not sizes and times; deletions and additions; the excludes respected),
 * and for an atomic target, where `current` points. Modified text files come with a diff (the target's content read
 * over the same connection). Any failure to reach or read the target makes it UNREACHABLE, with the cause.
 */
export async function verifyTarget(
  target: TargetRow,
  expected: { releaseId: number; tag: string },
  tree: string,
  shell: TargetShell,
  project: VerifySettings,
  options: RunOptions,
): Promise<Verification> {
  const base = { targetId: target.id, releaseId: expected.releaseId, checkedAt: new Date() };
  try {
    const atomic = project.deployMode === 'ATOMIC';
    const currentRelease = atomic ? (await shell.look()).current : null;
    const root = atomic ? `${target.path}/current` : target.path;
    const { output } = await rsync(tree, target, project, project.excludes, {
      ...options,
      // Contents by checksum; times neither compared nor itemized: the tree compared from is a checkout of its own
      // (its times are not the target's), and a line for each of 10,000 files differing in time alone would be
      // work for rsync, this process and the job log, for nothing a verification reports.
      extra: ['--dry-run', '--checksum', '--no-times', '--omit-dir-times'],
      destinationPath: root,
      controlPath: await shell.controlPath(),
    });
    const changes = driftFromDryRun(output);
    const drifted: DriftedPath[] = changes.slice(0, MAX_RECORDED_DRIFT).map((c) => ({ ...c, diff: null }));
    await addDiffs(drifted, tree, root, shell);
    const wrongCurrent = atomic && currentRelease !== expected.tag;
    return {
      ...base,
      state: changes.length > 0 || wrongCurrent ? 'DRIFTED' : 'IN_SYNC',
      currentRelease,
      drifted,
      driftedCount: changes.length,
      error: wrongCurrent ? `current points at ${currentRelease ?? 'nothing'}, not ${expected.tag}` : null,
    };
  } catch (error) {
    if (options.signal.aborted) throw error;
    return { ...base, state: 'UNREACHABLE', drifted: [], driftedCount: 0, error: (error as Error).message };
  }
}

/** Diffs of the first modified text files: the release's content (from the tree) against the target's. */
async function addDiffs(drifted: DriftedPath[], tree: string, root: string, shell: TargetShell): Promise<void> {
  const candidates: { item: DriftedPath; expected: Buffer }[] = [];
  for (const item of drifted) {
    if (candidates.length >= MAX_DRIFT_DIFFS) break;
    if (item.change !== 'MODIFIED') continue;
    const path = join(tree, item.path);
    const stat = await lstat(path).catch(() => null);
    if (!stat?.isFile() || stat.size > MAX_TEXT) continue;
    const expected = await readFile(path);
    if (isText(expected)) candidates.push({ item, expected });
  }
  const actual = await shell.readFiles(
    root,
    candidates.map((c) => c.item.path),
    MAX_TEXT,
  );
  candidates.forEach(({ item, expected }, i) => {
    const content = actual[i];
    if (!content || !isText(content) || content.equals(expected)) return;
    item.diff = createTwoFilesPatch(
      `a/${item.path}`,
      `b/${item.path}`,
      expected.toString('utf8'),
      content.toString('utf8'),
      'release',
      'target',
    );
  });
}

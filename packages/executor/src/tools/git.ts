import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type RunOptions, run } from './run.ts';

/**
 * Commits are made by Slipway (the ticket's author is recorded as the author); no hook runs, and submodules are never
 * fetched or entered: a branch can name another repository in .gitmodules, which staging must not read.
 */
const identity = [
  '-c',
  'user.name=Slipway',
  '-c',
  'user.email=slipway@localhost',
  '-c',
  'core.hooksPath=/dev/null',
  '-c',
  'submodule.recurse=false',
  '-c',
  'fetch.recurseSubmodules=false',
];

export function git(repo: string, args: string[], options: RunOptions): Promise<string> {
  return run('git', ['-C', repo, ...identity, ...args], options);
}

export async function gitOutput(repo: string, args: string[], options: RunOptions): Promise<string> {
  return (await git(repo, args, { ...options, quietStdout: true })).trim();
}

export async function gitSucceeds(repo: string, args: string[], options: RunOptions): Promise<boolean> {
  try {
    await git(repo, args, { ...options, quietStdout: true });
    return true;
  } catch {
    return false;
  }
}

export async function gitClone(url: string, branch: string, path: string, options: RunOptions): Promise<void> {
  await run('git', [...identity, 'clone', '--no-recurse-submodules', '--branch', branch, '--', url, path], options);
}

/**
 * Makes `dir` (a work tree of the ledger, added on first use) hold exactly `ref`: checked out, nothing else in it.
 */
export async function checkOutLedgerTree(ledger: string, dir: string, ref: string, options: RunOptions): Promise<void> {
  const isTree = await stat(join(dir, '.git')).then(
    () => true,
    () => false,
  );
  if (!isTree) {
    await git(ledger, ['worktree', 'prune'], options);
    await git(ledger, ['worktree', 'add', '--detach', dir, ref], options);
    return;
  }
  await git(dir, ['checkout', '-q', '--detach', '--force', ref], options);
  await git(dir, ['clean', '-q', '-d', '-x', '--force'], options);
}

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type RunOptions, run } from './run.ts';
import { explainSignIn, type SourceAuth } from './svn.ts';

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

/**
 * TLS for a git source over https: the certificate is always verified (set on the command line, so no config file can
 * switch it off; GIT_SSL_NO_VERIFY never reaches git, see run), against the system's CAs or the project's CA file —
 * given in GIT_SSL_CAINFO as well, which would otherwise win over the command line. Pure, for testing.
 */
export function gitTls(caFile: string | null | undefined): { args: string[]; env: Record<string, string> } {
  if (!caFile) return { args: ['-c', 'http.sslVerify=true'], env: {} };
  return { args: ['-c', 'http.sslVerify=true', '-c', `http.sslCAInfo=${caFile}`], env: { GIT_SSL_CAINFO: caFile } };
}

/**
 * Signing in to the source (https): a credential helper that answers from the environment, so the token is never
 * on a command line nor in a URL (nor in a log); other helpers are switched off, nothing is stored. Pure, for testing.
 */
export function gitAuth(auth: SourceAuth | null | undefined): { args: string[]; env?: Record<string, string> } {
  if (!auth) return { args: [] };
  return {
    args: [
      '-c',
      'credential.helper=',
      '-c',
      'credential.helper=!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" "$SLIPWAY_SOURCE_USERNAME" "$SLIPWAY_SOURCE_SECRET"; }; f',
      '-c',
      'credential.useHttpPath=false',
    ],
    env: { SLIPWAY_SOURCE_USERNAME: auth.username, SLIPWAY_SOURCE_SECRET: auth.secret },
  };
}

export async function gitClone(
  url: string,
  branch: string,
  path: string,
  options: RunOptions,
  auth?: SourceAuth | null,
  caFile?: string | null,
): Promise<void> {
  const signIn = gitAuth(auth);
  const tls = gitTls(caFile);
  await explainSignIn(
    run(
      'git',
      [
        ...identity,
        ...tls.args,
        ...signIn.args,
        'clone',
        '--no-recurse-submodules',
        '--branch',
        branch,
        '--',
        url,
        path,
      ],
      {
        ...options,
        env: { ...options.env, ...tls.env, ...signIn.env },
      },
    ),
    auth,
  );
}

/** A git command that talks to the source (fetch), signed in when the project has credentials. */
export function gitRemote(
  repo: string,
  args: string[],
  options: RunOptions,
  auth?: SourceAuth | null,
  caFile?: string | null,
) {
  const signIn = gitAuth(auth);
  const tls = gitTls(caFile);
  return explainSignIn(
    run('git', ['-C', repo, ...identity, ...tls.args, ...signIn.args, ...args], {
      ...options,
      env: { ...options.env, ...tls.env, ...signIn.env },
    }),
    auth,
  );
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

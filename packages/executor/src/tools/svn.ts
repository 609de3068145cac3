import { type RunOptions, run } from './run.ts';

const base = ['--non-interactive', '--trust-server-cert-failures=unknown-ca,cn-mismatch,expired,not-yet-valid,other'];

/** Whether svn:externals are followed: they can name any repository the executor reaches, so only if allowed. */
export interface SvnSettings {
  allowSvnExternals: boolean;
}

const externals = (settings: SvnSettings) => (settings.allowSvnExternals ? [] : ['--ignore-externals']);

export async function svnCheckout(
  url: string,
  path: string,
  settings: SvnSettings,
  options: RunOptions,
): Promise<void> {
  await run('svn', ['checkout', ...base, ...externals(settings), '--', url, path], options);
}

export async function svnInfoItem(path: string, item: 'url' | 'revision', options: RunOptions): Promise<string> {
  return (
    await run('svn', ['info', ...base, '--show-item', item, '--', path], { ...options, quietStdout: true })
  ).trim();
}

/** Updates the given paths of a working copy to HEAD in one command (so all at one revision); answers it. */
export async function svnUpdate(
  workingCopy: string,
  paths: string[],
  settings: SvnSettings,
  options: RunOptions,
): Promise<string> {
  const output = await run('svn', ['update', ...base, ...externals(settings), '--parents', '--', ...paths], {
    ...options,
    cwd: workingCopy,
  });
  const skipped = /^Skipped '([^']+)'/m.exec(output);
  if (skipped) throw new Error(`${skipped[1]} is not in the repository`);
  const revisions = [...output.matchAll(/(?:Updated to|At) revision (\d+)\./g)].map((m) => m[1]);
  const revision = revisions.at(-1);
  if (!revision) throw new Error('svn update did not report a revision');
  return revision;
}

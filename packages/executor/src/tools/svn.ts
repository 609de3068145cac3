import { EventFailure } from '@slipway/schema';
import { type CommandFailed, type RunOptions, run } from './run.ts';

const base = ['--non-interactive', '--trust-server-cert-failures=unknown-ca,cn-mismatch,expired,not-yet-valid,other'];

/** A username and a password (or token) for the source, opened from the project's sealed credentials. */
export interface SourceAuth {
  username: string;
  secret: string;
}

/** Whether svn:externals are followed: they can name any repository the executor reaches, so only if allowed. */
export interface SvnSettings {
  allowSvnExternals: boolean;
  auth?: SourceAuth | null;
}

/** svn's and git's ways of saying the server wants (other) credentials. */
const SIGN_IN_REFUSED =
  /E170001|E215004|Authentication failed|Can't get username or password|could not read Username|returned error: 401|403 Forbidden/i;

/** ssh's ways of saying the host key is unknown or changed, and that it accepted no key. */
const SSH_HOST_UNKNOWN =
  /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key for .* is not known/i;
const SSH_KEY_REFUSED = /Permission denied \((publickey|[a-z-]*,?publickey)/;

/**
 * Says plainly when the source refused to let staging in: whether credentials are missing or wrong. The original
 * message is kept (it names the repository); no secret is in it.
 */
export async function explainSignIn<T>(work: Promise<T>, auth: SourceAuth | null | undefined): Promise<T> {
  try {
    return await work;
  } catch (error) {
    const message = (error as Error).message;
    const said = [message, ...((error as CommandFailed).stderrLines ?? [])].join('\n');
    if (SSH_HOST_UNKNOWN.test(said))
      throw new Error(
        `${message} — ssh does not know the source's host key (or it changed): put it in the project's knownHostsPath file (ssh-keyscan shows it) or in the executor user's known_hosts`,
      );
    if (SSH_KEY_REFUSED.test(said))
      throw new Error(
        `${message} — the source's ssh server refused the key: set the project's sourceSshKeyPath to a private key on the executor host that the server accepts`,
      );
    if (!SIGN_IN_REFUSED.test(message)) throw error;
    throw new Error(
      `${(error as Error).message} — ${
        auth
          ? `the repository refused the project's source credentials (user ${auth.username}): an admin can correct them`
          : "the repository wants a username and password: an admin sets them as the project's source credentials"
      }`,
    );
  }
}

const externals = (settings: SvnSettings) => (settings.allowSvnExternals ? [] : ['--ignore-externals']);

/**
 * Signing in: the password goes on stdin (never on a command line `ps` shows), and svn keeps nothing on disk.
 * Pure, for testing.
 */
export function svnAuth(settings: SvnSettings): { args: string[]; input?: string } {
  if (!settings.auth) return { args: [] };
  return {
    args: ['--username', settings.auth.username, '--password-from-stdin', '--no-auth-cache'],
    input: `${settings.auth.secret}\n`,
  };
}

export async function svnCheckout(
  url: string,
  path: string,
  settings: SvnSettings,
  options: RunOptions,
): Promise<void> {
  const auth = svnAuth(settings);
  await explainSignIn(
    run('svn', ['checkout', ...base, ...auth.args, ...externals(settings), '--', url, path], {
      ...options,
      input: auth.input,
    }),
    settings.auth,
  );
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
  const auth = svnAuth(settings);
  const output = await explainSignIn(
    run('svn', ['update', ...base, ...auth.args, ...externals(settings), '--parents', '--', ...paths], {
      ...options,
      cwd: workingCopy,
      input: auth.input,
    }),
    settings.auth,
  );
  const skipped = /^Skipped '([^']+)'/m.exec(output);
  if (skipped) throw new EventFailure({ key: 'NOT_IN_REPOSITORY', params: { path: skipped[1] as string } });
  const revisions = [...output.matchAll(/(?:Updated to|At) revision (\d+)\./g)].map((m) => m[1]);
  const revision = revisions.at(-1);
  if (!revision) throw new Error('svn update did not report a revision');
  return revision;
}

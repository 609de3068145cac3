import { EventFailure, type EventMessage } from '@slipway/schema';
import { type CommandFailed, type RunOptions, run } from './run.ts';

const base = ['--non-interactive'];

/** A username and a password (or token) for the source, opened from the project's sealed credentials. */
export interface SourceAuth {
  username: string;
  secret: string;
}

/** Whether svn:externals are followed: they can name any repository the executor reaches, so only if allowed. */
export interface SvnSettings {
  allowSvnExternals: boolean;
  auth?: SourceAuth | null;
  /** A CA certificate (PEM) the https server is verified with, besides the system's (the project's sourceCaFile). */
  sourceCaFile?: string | null;
}

/**
 * TLS for svn over https: the server's certificate is always verified — against the system's CAs, and the project's
 * CA file when it names one. Nothing here switches a check off. Pure, for testing.
 */
export function svnTls(settings: Pick<SvnSettings, 'sourceCaFile'>): string[] {
  return [
    '--config-option',
    'servers:global:ssl-trust-default-ca=yes',
    ...(settings.sourceCaFile
      ? ['--config-option', `servers:global:ssl-authority-files=${settings.sourceCaFile}`]
      : []),
  ];
}

/** svn's and git's ways of saying the server wants (other) credentials. */
const SIGN_IN_REFUSED =
  /E170001|E215004|Authentication failed|Can't get username or password|could not read Username|returned error: 401|403 Forbidden/i;

/** svn's and git's ways of saying the server's TLS certificate could not be verified. */
const CERTIFICATE_REFUSED =
  /E230001|certificate verification failed|SSL certificate problem|server certificate verification failed|unable to get local issuer certificate|self[- ]signed certificate/i;

/** ssh's ways of saying the host key is unknown or changed, and that it accepted no key. */
const SSH_HOST_UNKNOWN =
  /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key for .* is not known/i;
const SSH_KEY_REFUSED = /Permission denied \((publickey|[a-z-]*,?publickey)/;

/**
 * Says plainly when the source refused to let staging in: an untrusted certificate, ssh host keys and keys, missing or
 * wrong credentials — a sentence of its own (in both languages), with what the command said below it (it names the
 * repository; no secret is in it).
 */
export async function explainSignIn<T>(work: Promise<T>, auth: SourceAuth | null | undefined): Promise<T> {
  try {
    return await work;
  } catch (error) {
    const failed = error as CommandFailed;
    const output = failed.stderrLines?.length ? failed.stderrLines.slice(-5) : [failed.message];
    const said = [failed.message, ...(failed.stderrLines ?? [])].join('\n');
    const because = (message: EventMessage) => new EventFailure(message, output);
    if (CERTIFICATE_REFUSED.test(said)) {
      const detail = failed.stderrLines?.find((l) => CERTIFICATE_REFUSED.test(l)) ?? failed.message;
      throw because({ key: 'SOURCE_CERTIFICATE', params: { detail: detail.trim() } });
    }
    if (SSH_HOST_UNKNOWN.test(said)) throw because({ key: 'SOURCE_HOST_KEY', params: {} });
    if (SSH_KEY_REFUSED.test(said)) throw because({ key: 'SOURCE_KEY_REFUSED', params: {} });
    if (!SIGN_IN_REFUSED.test(failed.message)) throw error;
    throw because(
      auth
        ? { key: 'SOURCE_CREDENTIALS_REFUSED', params: { username: auth.username } }
        : { key: 'SOURCE_CREDENTIALS_NEEDED', params: {} },
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

/**
 * An svn command that talks to the repository: non-interactive, its certificate verified, signed in as the project
 * says (the password on stdin), a refusal said plainly.
 */
function svnRemote(command: string, args: string[], settings: SvnSettings, options: RunOptions): Promise<string> {
  const auth = svnAuth(settings);
  return explainSignIn(
    run('svn', [command, ...base, ...svnTls(settings), ...auth.args, ...args], { ...options, input: auth.input }),
    settings.auth,
  );
}

export async function svnCheckout(
  url: string,
  path: string,
  settings: SvnSettings,
  options: RunOptions,
): Promise<void> {
  await svnRemote('checkout', [...externals(settings), '--', url, path], settings, options);
}

/** Points a working copy at the repository's new URL (`svn relocate`); svn refuses a URL of another repository. */
export async function svnRelocate(
  path: string,
  url: string,
  settings: SvnSettings,
  options: RunOptions,
): Promise<void> {
  await svnRemote('relocate', ['--', url, path], settings, options);
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
  const output = await svnRemote('update', [...externals(settings), '--parents', '--', ...paths], settings, {
    ...options,
    cwd: workingCopy,
  });
  const skipped = /^Skipped '([^']+)'/m.exec(output);
  if (skipped) throw new EventFailure({ key: 'NOT_IN_REPOSITORY', params: { path: skipped[1] as string } });
  const revisions = [...output.matchAll(/(?:Updated to|At) revision (\d+)\./g)].map((m) => m[1]);
  const revision = revisions.at(-1);
  if (!revision) throw new Error('svn update did not report a revision');
  return revision;
}

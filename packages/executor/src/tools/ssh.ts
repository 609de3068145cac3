import type { RsyncTarget, SshSettings } from './rsync.ts';
import { type RunOptions, run } from './run.ts';

/** Quotes one word for the remote POSIX shell (ssh always hands the remote side a command line). */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export function sshArgs(target: RsyncTarget, ssh: SshSettings): string[] {
  const args = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10'];
  if (ssh.knownHostsPath)
    args.push('-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${ssh.knownHostsPath}`);
  if (ssh.sshKeyPath) args.push('-o', 'IdentitiesOnly=yes', '-i', ssh.sshKeyPath);
  if (target.port) args.push('-p', String(target.port));
  args.push('--', `${target.user ? `${target.user}@` : ''}${target.host}`);
  return args;
}

/** Runs a command line on an ssh target; every variable part of it must be quoted with shellQuote. */
export function sshRun(
  target: RsyncTarget,
  ssh: SshSettings,
  commandLine: string,
  options: RunOptions,
): Promise<string> {
  return run('ssh', [...sshArgs(target, ssh), commandLine], options);
}

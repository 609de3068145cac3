import { type RunOptions, run } from './run.ts';
import { sshArgs } from './ssh.ts';

export interface RsyncTarget {
  host: string | null;
  port: number | null;
  user: string | null;
  path: string;
}

export interface SshSettings {
  sshKeyPath: string | null;
  knownHostsPath: string | null;
}

export interface RsyncStats {
  bytesSent: number;
  filesChanged: number;
}

/** Always left out: version-control metadata never reaches a target. */
export const ALWAYS_EXCLUDED = ['.svn', '.git'];

/** The ssh command rsync runs (rsync splits it on spaces; the paths in it are validated to have none). */
export function sshCommand(target: RsyncTarget, ssh: SshSettings): string {
  // rsync adds the host itself: the ssh options are sshArgs' without its closing `-- host`.
  return ['ssh', ...sshArgs(target, ssh).slice(0, -2)].join(' ');
}

export function destination(target: RsyncTarget): string {
  if (!target.host) return `${target.path}/`;
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.user ? `${target.user}@` : ''}${host}:${target.path}/`;
}

/** The argument array of one sync of `source` (a directory) to a target. Pure, for testing. */
export function rsyncArgs(
  source: string,
  target: RsyncTarget,
  ssh: SshSettings,
  excludes: string[],
  extra: string[] = [],
  destinationPath = target.path,
) {
  // --modify-window=-1: compare modification times to the nanosecond, so a file rewritten within the same second as
  // the last sync (a quick rollback) is never skipped by the quick check.
  const args = [
    '--archive',
    '--delete',
    '--modify-window=-1',
    '--itemize-changes',
    '--stats',
    '--mkpath',
    '--protect-args',
    ...extra,
  ];
  for (const pattern of [...ALWAYS_EXCLUDED, ...excludes]) args.push(`--exclude=${pattern}`);
  if (target.host) args.push('--rsh', sshCommand(target, ssh));
  args.push('--', `${source}/`, destination({ ...target, path: destinationPath }));
  return args;
}

export function parseStats(output: string): RsyncStats {
  const number = (label: string) =>
    Number((new RegExp(`${label}: ([\\d,]+)`).exec(output)?.[1] ?? '0').replaceAll(',', ''));
  return { bytesSent: number('Total bytes sent'), filesChanged: number('Number of regular files transferred') };
}

export async function rsync(
  source: string,
  target: RsyncTarget,
  ssh: SshSettings,
  excludes: string[],
  options: RunOptions & { extra?: string[]; destinationPath?: string },
): Promise<RsyncStats & { output: string }> {
  const output = await run(
    'rsync',
    rsyncArgs(source, target, ssh, excludes, options.extra, options.destinationPath),
    options,
  );
  return { ...parseStats(output), output };
}

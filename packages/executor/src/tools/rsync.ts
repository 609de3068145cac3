import { type RunOptions, run } from './run.ts';
import { type RemoteTarget, type SshSettings, sshOptions } from './ssh.ts';

export interface RsyncTarget extends RemoteTarget {
  path: string;
}

export interface RsyncStats {
  bytesSent: number;
  filesChanged: number;
}

/** Always left out: version-control metadata never reaches a target. */
export const ALWAYS_EXCLUDED = ['.svn', '.git'];

/** Itemized lines kept in the job log per target; the rest are counted (a first deploy changes every file). */
export const ITEMIZED_LOG_LIMIT = { lines: 200, matching: /^([<>ch.][fdLDS]\S{9} |\*deleting )/ };

/** The ssh command rsync runs (rsync splits it on spaces; the paths in it are validated to have none). */
export function sshCommand(target: RsyncTarget, ssh: SshSettings, controlPath?: string): string {
  const args = sshOptions(ssh, controlPath);
  if (target.port) args.push('-p', String(target.port));
  return ['ssh', ...args].join(' ');
}

export function destination(target: RsyncTarget): string {
  if (!target.host) return `${target.path}/`;
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.user ? `${target.user}@` : ''}${host}:${target.path}/`;
}

export interface RsyncOptions {
  /** Options added to the common ones (e.g. --delay-updates, --link-dest=…, --dry-run). */
  extra?: string[];
  /** Where on the target, when not the target's own path (atomic mode: a release directory). */
  destinationPath?: string;
  /** The job's connection to the target (ssh targets). */
  controlPath?: string;
  /** Only these paths (relative to the source); deletions are the caller's (a gone parent is not rsync's to list). */
  files?: string[];
  /** What starts rsync on the target (ssh targets): a script around it saves a round trip. */
  rsyncPath?: string;
  /**
   * Itemize each change (default): the list of what changed comes from rsync. False when the caller has that list
   * already (a first copy to an empty path: every file of the release, from the ledger), so a first sync of 10,000 files
   * does not send, print and read back 10,000 lines for nothing.
   */
  itemize?: boolean;
}

/** The argument array of one sync of `source` (a directory) to a target. Pure, for testing. */
export function rsyncArgs(
  source: string,
  target: RsyncTarget,
  ssh: SshSettings,
  excludes: string[],
  options: RsyncOptions = {},
) {
  // --modify-window=-1: compare modification times to the nanosecond, so a file rewritten within the same second as
  // the last sync (a quick rollback) is never skipped by the quick check.
  const args = ['--archive', '--delete', '--modify-window=-1'];
  if (options.itemize !== false) args.push('--itemize-changes');
  args.push('--stats', '--mkpath', '--protect-args');
  // The changed paths come on stdin, NUL-separated; a file that replaces a directory replaces it (--force).
  if (options.files) args.push('--files-from=-', '--from0', '--force');
  args.push(...(options.extra ?? []));
  for (const pattern of [...ALWAYS_EXCLUDED, ...excludes]) args.push(`--exclude=${pattern}`);
  if (target.host) args.push('--rsh', sshCommand(target, ssh, options.controlPath));
  if (target.host && options.rsyncPath) args.push(`--rsync-path=${options.rsyncPath}`);
  args.push('--', `${source}/`, destination({ ...target, path: options.destinationPath ?? target.path }));
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
  options: RunOptions & RsyncOptions,
): Promise<RsyncStats & { output: string }> {
  const output = await run('rsync', rsyncArgs(source, target, ssh, excludes, options), {
    ...options,
    stdoutLogLimit: options.stdoutLogLimit ?? ITEMIZED_LOG_LIMIT,
    reportPrefix: options.reportPrefix ?? '@@slipway:',
    input: options.files ? options.files.map((f) => `${f}\0`).join('') : options.input,
  });
  return { ...parseStats(output), output };
}

export interface ItemizedChange {
  path: string;
  change: 'ADDED' | 'MODIFIED' | 'DELETED';
}

/**
 * Reads rsync's --itemize-changes lines: what was (or would be) created, changed or deleted. A change of time alone
 * is left out (the content is the same), and so are directories that merely exist.
 */
export function itemizedChanges(output: string): ItemizedChange[] {
  const items: ItemizedChange[] = [];
  for (const line of output.split('\n')) {
    const deleting = /^\*deleting\s+(.+)$/.exec(line);
    if (deleting?.[1]) {
      if (!deleting[1].endsWith('/')) items.push({ path: deleting[1], change: 'DELETED' });
      continue;
    }
    const item = /^([<>ch.*])([fdLDS])(\S{9})\s(.+)$/.exec(line);
    if (!item?.[4]) continue;
    const [, , kind, flags = '', path] = item;
    if (kind === 'd') continue;
    // The 9 attribute letters: c content (or link value), s size, t time, p permissions, o/g owner, …
    if (flags === '+++++++++') items.push({ path, change: 'ADDED' });
    else if (/[csp]/.test(flags)) items.push({ path, change: 'MODIFIED' });
  }
  return items;
}

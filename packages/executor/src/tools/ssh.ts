import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { describeHostKey, judgeHostKey, knownKeysFor, scanHostKeys } from '../host-keys.ts';
import { type RunOptions, run } from './run.ts';

/** Where a target is reached: no host means a local path on the executor host. */
export interface RemoteTarget {
  host: string | null;
  port: number | null;
  user: string | null;
}

/**
 * How ssh reaches targets: files on the executor host (keys are never stored in the database) — the project's own,
 * else Slipway's (`<data dir>/ssh/id_ed25519` and `known_hosts`, see targetSsh).
 */
export interface SshSettings {
  sshKeyPath: string | null;
  knownHostsPath: string | null;
}

/** The files ssh reads host keys from with these settings (besides the user's, which a set file replaces). */
export function knownHostsFiles(ssh: SshSettings): string[] {
  return [...(ssh.knownHostsPath ? [ssh.knownHostsPath] : []), '/etc/ssh/ssh_known_hosts'];
}

/** Quotes one word for the remote POSIX shell (ssh always hands the remote side a command line). */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Options of every ssh this executor runs; with `controlPath`, it goes through that target's open connection. */
export function sshOptions(ssh: SshSettings, controlPath?: string): string[] {
  const args = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10'];
  if (ssh.knownHostsPath)
    args.push('-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${ssh.knownHostsPath}`);
  if (ssh.sshKeyPath) args.push('-o', 'IdentitiesOnly=yes', '-i', ssh.sshKeyPath);
  // A connection that opened fine and then failed makes ssh fall back to a connection of its own: still correct.
  if (controlPath) args.push('-o', 'ControlMaster=no', '-o', `ControlPath=${controlPath}`);
  return args;
}

/**
 * How svn (SVN_SSH) and git (GIT_SSH_COMMAND) reach a source over ssh: with the project's source key and known hosts,
 * never asking. Both take the command as one string they split themselves (git through sh), so each word is quoted.
 * svn hands ssh "host:port" as the host name: a port in an svn+ssh URL becomes `-p` and `HostName`. Pure, for testing.
 */
export function sourceSshEnv(
  sourceUrl: string,
  sourceType: 'SVN' | 'GIT',
  settings: { sourceSshKeyPath: string | null; knownHostsPath: string | null },
): Record<string, string> {
  const words = [
    'ssh',
    ...sshOptions({ sshKeyPath: settings.sourceSshKeyPath, knownHostsPath: settings.knownHostsPath }),
  ];
  if (sourceType === 'SVN') {
    if (!sourceUrl.startsWith('svn+ssh://')) return {};
    const url = URL.parse(sourceUrl);
    if (url?.port) words.push('-p', url.port, '-o', `HostName=${url.hostname.replace(/^\[|\]$/g, '')}`);
    return { SVN_SSH: words.map(quoteIfNeeded).join(' ') };
  }
  // git reaches ssh for ssh:// URLs and scp-like ones (user@host:path); not for http(s), git:// or file paths.
  if (/^(https?|git|file):\/\//.test(sourceUrl) || sourceUrl.startsWith('/')) return {};
  return { GIT_SSH_COMMAND: words.map(quoteIfNeeded).join(' ') };
}

const quoteIfNeeded = (word: string) => (/^[A-Za-z0-9_./:=@+,-]+$/.test(word) ? word : shellQuote(word));

export function sshArgs(target: RemoteTarget, ssh: SshSettings, controlPath?: string): string[] {
  const args = sshOptions(ssh, controlPath);
  if (target.port) args.push('-p', String(target.port));
  args.push('--', `${target.user ? `${target.user}@` : ''}${target.host}`);
  return args;
}

/** Runs a command line on an ssh target; every variable part of it must be quoted with shellQuote. */
export function sshRun(
  target: RemoteTarget,
  ssh: SshSettings,
  commandLine: string,
  options: RunOptions & { controlPath?: string },
): Promise<string> {
  return run('ssh', [...sshArgs(target, ssh, options.controlPath), commandLine], options);
}

/** Why an ssh connection could not be made, in words a person acts on; `transient` ones are worth retrying. */
export class SshConnectFailed extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
    /** What stopped it: the host key, the key refused, or the host not reached (or another failure). */
    readonly reason: 'HOST_KEY' | 'AUTH' | 'UNREACHED' = 'UNREACHED',
  ) {
    super(message);
    this.name = 'SshConnectFailed';
  }
}

const TRANSIENT =
  /kex_exchange_identification|Connection reset|Connection closed by|Connection refused|banner exchange|Broken pipe|Connection timed out|closed by remote host|No route to host/i;
const HOST_KEY = /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key is known|HOST KEY/i;
const AUTH = /Permission denied|Too many authentication failures|no mutual signature|Authentication failed/i;

/** Reads ssh's last words into a failure a person understands, and whether trying again may help. */
export function classifySshFailure(where: string, stderr: string): SshConnectFailed {
  const said =
    stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('Warning: Permanently added'))
      .at(-1) ?? 'ssh failed without saying why';
  if (HOST_KEY.test(stderr))
    return new SshConnectFailed(
      `${where}: the host key is not the one in known_hosts (or is missing from it); not retried: ${said}`,
      false,
      'HOST_KEY',
    );
  if (AUTH.test(stderr))
    return new SshConnectFailed(`${where}: the server refused the ssh key; not retried: ${said}`, false, 'AUTH');
  if (TRANSIENT.test(stderr)) return new SshConnectFailed(`${where}: ${said}`, true);
  return new SshConnectFailed(`${where}: ${said}`, false);
}

/** Backoff before the 2nd, 3rd and 4th attempt to connect. */
const RETRY_DELAYS_MS = [300, 1000, 2500];
/** An idle connection left behind (its executor killed) closes itself after this long. */
const IDLE_SECONDS = 60;

/**
 * The executor's private directory of ssh control sockets: `<root>/slipway-ssh-<pid>-<random>`, mode 0700, removed
 * when the executor stops. Directories of executors that died (their pid is gone) are removed by the next executor to
 * start on the host, after telling the connections still open in them to exit.
 */
export class ControlDirectory {
  private constructor(readonly path: string) {}

  static async create(root = tmpdir()): Promise<ControlDirectory> {
    // rsync hands its ssh command line to ssh split on spaces: the socket paths must have none.
    const base = /\s/.test(root) ? '/tmp' : root;
    await mkdir(base, { recursive: true });
    await removeStaleControlDirectories(base);
    const path = await mkdtemp(join(base, `slipway-ssh-${process.pid}-`));
    await chmod(path, 0o700);
    return new ControlDirectory(path);
  }

  async remove(): Promise<void> {
    await closeConnectionsIn(this.path);
    await rm(this.path, { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function removeStaleControlDirectories(root: string): Promise<void> {
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const pid = Number(/^slipway-ssh-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || processAlive(pid)) continue;
    const path = join(root, name);
    await closeConnectionsIn(path);
    await rm(path, { recursive: true, force: true });
  }
}

async function closeConnectionsIn(dir: string): Promise<void> {
  const sockets = (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.endsWith('.log'));
  await Promise.all(
    sockets.map((socket) =>
      execa('ssh', ['-o', `ControlPath=${join(dir, socket)}`, '-O', 'exit', 'slipway-control'], {
        reject: false,
        stdin: 'ignore',
        timeout: 5000,
      }),
    ),
  );
}

export interface ConnectionKey extends RemoteTarget {
  /** Unique within the job (a target's id): two targets on one host get a connection each. */
  id: number;
  name: string;
}

/**
 * One job's ssh connections: the first remote step on a target opens one authenticated connection (an OpenSSH
 * control master), and every later step of the job on that target — rsync, listing, switching, hooks — runs over it.
 * A transient failure to connect (reset, refused, sshd's MaxStartups) is retried with backoff; a refused key or an
 * unknown host key is not. `close()` ends them all when the job is done.
 */
export class JobConnections {
  private readonly open = new Map<number, Promise<string>>();

  constructor(
    private readonly directory: string,
    private readonly jobId: number,
    private readonly ssh: SshSettings,
  ) {}

  /** The control socket of a target's connection, opened (with retries) if it is not yet. */
  connect(target: ConnectionKey, options: RunOptions): Promise<string> {
    let opened = this.open.get(target.id);
    if (!opened) {
      opened = this.establish(target, options);
      this.open.set(target.id, opened);
      // A failed connection may be tried again by a later step (a retry of the job makes a new one anyway).
      opened.catch(() => this.open.delete(target.id));
    }
    return opened;
  }

  private async establish(target: ConnectionKey, options: RunOptions): Promise<string> {
    const controlPath = join(this.directory, `j${this.jobId}-t${target.id}`);
    const log = `${controlPath}.log`;
    const where = `${target.name} (${target.user ? `${target.user}@` : ''}${target.host}${target.port ? `:${target.port}` : ''})`;
    for (let attempt = 1; ; attempt++) {
      await rm(log, { force: true });
      // -f: back to us once authenticated, the connection staying behind as the master of controlPath.
      const result = await execa(
        'ssh',
        [
          '-f',
          '-N',
          '-o',
          'ControlMaster=yes',
          '-o',
          `ControlPersist=${IDLE_SECONDS}`,
          '-o',
          `ControlPath=${controlPath}`,
          '-o',
          'ServerAliveInterval=15',
          '-E',
          log,
          ...sshArgs(target, this.ssh),
        ],
        { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', reject: false, cancelSignal: options.signal },
      );
      if (options.signal.aborted) throw options.signal.reason ?? new Error('aborted');
      if (result.exitCode === 0) {
        options.sink.system(`${target.name}: ssh connection open${attempt > 1 ? ` (attempt ${attempt})` : ''}`);
        return controlPath;
      }
      let failure = classifySshFailure(where, await readFile(log, 'utf8').catch(() => ''));
      if (failure.reason === 'HOST_KEY') failure = await this.explainHostKey(target, where, failure, options.signal);
      const delay = RETRY_DELAYS_MS[attempt - 1];
      if (!failure.transient || delay === undefined) throw failure;
      options.sink.system(`${failure.message}; retrying in ${delay} ms`);
      await sleep(delay + Math.floor(Math.random() * delay * 0.3), undefined, { signal: options.signal });
    }
  }

  /**
   * A host key ssh refused, said with its fingerprints: the one the host shows now and, when it changed, the one
   * known before — never replaced silently.
   */
  private async explainHostKey(
    target: ConnectionKey,
    where: string,
    failure: SshConnectFailed,
    signal: AbortSignal,
  ): Promise<SshConnectFailed> {
    const [scan, known] = await Promise.all([
      scanHostKeys(target.host as string, target.port, signal),
      knownKeysFor(knownHostsFiles(this.ssh), target.host as string, target.port),
    ]);
    const report = judgeHostKey(scan.keys, known);
    if (!report || report.known) return failure;
    return new SshConnectFailed(describeHostKey(where, report), false, 'HOST_KEY');
  }

  /** Ends every connection of the job (and forgets them). */
  async close(): Promise<void> {
    const paths = await Promise.all([...this.open.values()].map((p) => p.catch(() => null)));
    this.open.clear();
    await Promise.all(
      paths
        .filter((p): p is string => p !== null)
        .map((path) =>
          execa('ssh', ['-o', `ControlPath=${path}`, '-O', 'exit', 'slipway-control'], {
            reject: false,
            stdin: 'ignore',
            timeout: 5000,
          }),
        ),
    );
  }
}

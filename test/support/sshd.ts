import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@slipway/schema';
import { execa, type ResultPromise } from 'execa';

export interface Sshd {
  port: number;
  /** The client's private key, for the project's sshKeyPath. */
  keyPath: string;
  /** A known_hosts file naming this server's host key, for the project's knownHostsPath. */
  knownHostsPath: string;
  user: string;
  stop(): Promise<void>;
  /** Starts the same server again (same port and keys) after stop(). */
  restart(): Promise<void>;
  /** Kills the server and every session it serves at once, as when the host drops off the network. */
  drop(): Promise<void>;
}

/** A real OpenSSH server on 127.0.0.1 and a free port, accepting one generated client key. */
export async function startSshd(dir: string): Promise<Sshd> {
  const home = join(dir, 'sshd');
  await mkdir(home, { recursive: true });
  await mkdir('/run/sshd', { recursive: true });
  const hostKey = join(home, 'host_ed25519');
  const keyPath = join(home, 'client_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyPath]);
  const authorized = join(home, 'authorized_keys');
  await writeFile(authorized, await readFile(`${keyPath}.pub`));
  const port = await freePort();
  const config = join(home, 'sshd_config');
  await writeFile(
    config,
    [
      `ListenAddress 127.0.0.1`,
      `Port ${port}`,
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorized}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'StrictModes no',
      `PidFile ${join(home, 'sshd.pid')}`,
      'LogLevel ERROR',
      'MaxStartups 100:30:200',
      'MaxSessions 100',
    ].join('\n'),
  );
  const knownHostsPath = join(home, 'known_hosts');
  const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  await writeFile(knownHostsPath, `[127.0.0.1]:${port} ${hostPub}\n`);
  let server = (await launch(config, port)).child;
  const { stdout: user } = await execa('id', ['-un']);
  return {
    port,
    keyPath,
    knownHostsPath,
    user: user.trim(),
    stop: async () => {
      server.kill('SIGTERM');
      await server;
    },
    restart: async () => {
      // The port may take a moment to be free again after a kill; try for a few seconds.
      for (let attempt = 1; ; attempt++) {
        try {
          server = (await launch(config, port)).child;
          return;
        } catch (error) {
          if (attempt >= 30) throw error;
          await sleep(200);
        }
      }
    },
    drop: async () => {
      const tree = await descendants(server.pid as number);
      for (const pid of [server.pid as number, ...tree]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      await server;
    },
  };
}

/** Wrapped: an execa child is itself a promise (of its exit), which an async function would wait for. */
async function launch(config: string, port: number): Promise<{ child: ResultPromise }> {
  // -D: stay in the foreground so the process we hold is the server itself.
  const server: ResultPromise = execa('/usr/sbin/sshd', ['-D', '-e', '-f', config], { reject: false, stdin: 'ignore' });
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 200 || server.exitCode !== null) throw new Error(`sshd did not start: ${(await server).stderr}`);
    await sleep(25);
  }
  return { child: server };
}

/** Every process below `root`, from /proc. */
async function descendants(root: number): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    const ppid = /PPid:\s+(\d+)/.exec(status)?.[1];
    if (ppid) parents.set(Number(name), Number(ppid));
  }
  const found: number[] = [];
  const visit = (pid: number) => {
    for (const [child, parent] of parents) {
      if (parent === pid) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(root);
  return found;
}

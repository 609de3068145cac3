import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
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
  /** The file the server reads the keys it accepts from (at each sign-in). */
  authorizedKeysPath: string;
  /** The fingerprint of the server's host key (`SHA256:…`), as an admin would read it on the server. */
  hostKeyFingerprint(): Promise<string>;
  /** Gives the server a new host key (as a reinstalled server has) and starts it again; answers its fingerprint. */
  newHostKey(): Promise<string>;
  stop(): Promise<void>;
  /** Starts the same server again (same port and keys) after stop(). */
  restart(): Promise<void>;
  /** Kills the server and every session it serves at once, as when the host drops off the network. */
  drop(): Promise<void>;
}

/** A server's keys (host and one client key it accepts) and the config lines every test server shares. */
async function serverHome(home: string) {
  await mkdir(home, { recursive: true });
  await mkdir('/run/sshd', { recursive: true });
  const hostKey = join(home, 'host_ed25519');
  const keyPath = join(home, 'client_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyPath]);
  const authorized = join(home, 'authorized_keys');
  await writeFile(authorized, await readFile(`${keyPath}.pub`));
  const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  const serverConfig = [
    `HostKey ${hostKey}`,
    `AuthorizedKeysFile ${authorized}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    'StrictModes no',
    // A target's login shell reads the user's ~/.bashrc on every session; this machine's root one runs
    // `pyenv rehash` (~0.5 s). A deploy user on a real server has a plain one: so has the test server's.
    `SetEnv HOME=${home}`,
  ];
  return { home, hostKey, hostPub, keyPath, authorized, serverConfig };
}

/** `SHA256:…` of a key file, as `ssh-keygen -lf` prints it. */
async function fingerprintOf(keyFile: string): Promise<string> {
  const { stdout } = await execa('ssh-keygen', ['-lf', keyFile]);
  return stdout.split(' ')[1] as string;
}

/** A real OpenSSH server on 127.0.0.1 and a free port, accepting one generated client key. */
export async function startSshd(dir: string): Promise<Sshd> {
  const { home, hostKey, hostPub, keyPath, authorized, serverConfig } = await serverHome(join(dir, 'sshd'));
  const port = await freePort();
  const config = join(home, 'sshd_config');
  await writeFile(
    config,
    [
      `ListenAddress 127.0.0.1`,
      `Port ${port}`,
      ...serverConfig,
      `PidFile ${join(home, 'sshd.pid')}`,
      'LogLevel ERROR',
      'MaxStartups 100:30:200',
      'MaxSessions 100',
    ].join('\n'),
  );
  const knownHostsPath = join(home, 'known_hosts');
  await writeFile(knownHostsPath, `[127.0.0.1]:${port} ${hostPub}\n`);
  let server = (await launch(config, port)).child;
  const startAgain = async () => {
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
  };
  const { stdout: user } = await execa('id', ['-un']);
  return {
    port,
    keyPath,
    knownHostsPath,
    user: user.trim(),
    authorizedKeysPath: authorized,
    hostKeyFingerprint: () => fingerprintOf(hostKey),
    newHostKey: async () => {
      server.kill('SIGTERM');
      await server;
      await rm(hostKey, { force: true });
      await rm(`${hostKey}.pub`, { force: true });
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
      await startAgain();
      return fingerprintOf(hostKey);
    },
    stop: async () => {
      server.kill('SIGTERM');
      await server;
    },
    restart: startAgain,
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

export interface SshFleet {
  /** One address per simulated host (127.0.0.2, 127.0.0.3, …), all on `port`. */
  addresses: string[];
  port: number;
  keyPath: string;
  knownHostsPath: string;
  user: string;
  /** TCP connections each address accepted so far (from the servers' VERBOSE logs). */
  connections(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

/** At most this many ListenAddress lines per sshd (OpenSSH's limit is 16). */
const ADDRESSES_PER_SERVER = 16;

/**
 * A fleet of `count` hosts, each on its own loopback address (so no connection can be shared between two of them),
 * served by as many real sshd processes as it takes, with MaxStartups and MaxSessions raised for fan-out and
 * LogLevel VERBOSE so every accepted connection is counted.
 */
export async function startSshFleet(dir: string, count: number): Promise<SshFleet> {
  const { home, hostPub, keyPath, serverConfig } = await serverHome(join(dir, 'fleet-sshd'));
  const port = await freePort();
  const addresses = Array.from({ length: count }, (_, i) => `127.0.${Math.floor(i / 250)}.${(i % 250) + 2}`);
  const knownHostsPath = join(home, 'known_hosts');
  await writeFile(knownHostsPath, addresses.map((a) => `[${a}]:${port} ${hostPub}\n`).join(''));
  const servers: ResultPromise[] = [];
  const logs: string[] = [];
  for (let first = 0; first < count; first += ADDRESSES_PER_SERVER) {
    const mine = addresses.slice(first, first + ADDRESSES_PER_SERVER);
    const config = join(home, `sshd_config_${first}`);
    const log = join(home, `sshd_${first}.log`);
    logs.push(log);
    await writeFile(
      config,
      [
        ...mine.map((address) => `ListenAddress ${address}:${port}`),
        ...serverConfig,
        `PidFile ${join(home, `sshd_${first}.pid`)}`,
        'LogLevel VERBOSE',
        'MaxStartups 200:30:400',
        'MaxSessions 100',
      ].join('\n'),
    );
    const server = execa('/usr/sbin/sshd', ['-D', '-f', config, '-E', log], { reject: false, stdin: 'ignore' });
    servers.push(server);
    for (const address of mine) await waitForPort(address, port, server);
  }
  const { stdout: user } = await execa('id', ['-un']);
  return {
    addresses,
    port,
    keyPath,
    knownHostsPath,
    user: user.trim(),
    connections: async () => {
      const counts = new Map(addresses.map((a) => [a, 0]));
      for (const log of logs) {
        const text = await readFile(log, 'utf8').catch(() => '');
        for (const match of text.matchAll(/Connection from \S+ port \d+ on (\S+) port \d+/g)) {
          const address = match[1] as string;
          counts.set(address, (counts.get(address) ?? 0) + 1);
        }
      }
      return counts;
    },
    stop: async () => {
      for (const server of servers) server.kill('SIGTERM');
      await Promise.all(servers);
    },
  };
}

async function waitForPort(host: string, port: number, server: ResultPromise): Promise<void> {
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host, () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return;
    if (i > 200 || server.exitCode !== null) throw new Error(`sshd did not start: ${(await server).stderr}`);
    await sleep(25);
  }
}

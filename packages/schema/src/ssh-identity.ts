import { createHash, randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { execa } from 'execa';
import type { Db } from './db.ts';
import { sshIdentities } from './tables/hosts.ts';

/** Where Slipway keeps its own ssh key pair and known_hosts: `<data dir>/ssh`. */
export function sshFiles(dataDir: string) {
  const dir = join(dataDir, 'ssh');
  return {
    dir,
    key: join(dir, 'id_ed25519'),
    publicKey: join(dir, 'id_ed25519.pub'),
    knownHosts: join(dir, 'known_hosts'),
  };
}

/** `SHA256:…` of a public key given as its base64 blob, as `ssh-keygen -l` prints it. */
export function sshFingerprint(base64Key: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(base64Key, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/** A key type as `ssh-keygen -l` names it (ED25519, ECDSA, RSA), from ssh's name of it (`ssh-ed25519`, …). */
export function keyTypeName(keyType: string): string {
  if (keyType.includes('ed25519')) return 'ED25519';
  if (keyType.startsWith('ecdsa')) return 'ECDSA';
  if (keyType.includes('rsa')) return 'RSA';
  return keyType.toUpperCase();
}

export interface SshIdentity {
  keyPath: string;
  /** The `authorized_keys` line. */
  publicKey: string;
  fingerprint: string;
}

/**
 * Slipway's own key pair, made on first use (ed25519, no passphrase, the private key 0600 in a 0700 directory). Made
 * under a name of its own and linked into place, so processes starting at once (a server and its executor, executors
 * sharing a data directory) end up with one key: whoever links first wins, the others use that one.
 */
export async function ensureSshIdentity(dataDir: string): Promise<SshIdentity> {
  const files = sshFiles(dataDir);
  await mkdir(files.dir, { recursive: true, mode: 0o700 });
  await chmod(files.dir, 0o700);
  const existing = await readFile(files.key).catch(() => null);
  if (!existing) {
    const scratch = join(files.dir, `.new-${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(scratch, { mode: 0o700 });
    try {
      const key = join(scratch, 'id_ed25519');
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `slipway@${hostname()}`, '-f', key], {
        stdin: 'ignore',
      });
      const won = await link(key, files.key).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
          return false;
        },
      );
      if (won) await link(`${key}.pub`, files.publicKey).catch(() => {});
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  await chmod(files.key, 0o600);
  // The public half is derived from the private key, so a .pub of another key (or none) never misleads.
  const { stdout } = await execa('ssh-keygen', ['-y', '-f', files.key], { stdin: 'ignore' });
  const [type = '', blob = ''] = stdout.trim().split(/\s+/);
  const comment = (await readFile(files.publicKey, 'utf8').catch(() => '')).trim().split(/\s+/).slice(2).join(' ');
  return {
    keyPath: files.key,
    publicKey: [type, blob, comment || `slipway@${hostname()}`].join(' '),
    fingerprint: sshFingerprint(blob),
  };
}

/** Records the public key an executor pool uses, for admins to install on targets (Query.sshPublicKey). */
export async function publishSshIdentity(db: Db, pool: string, identity: SshIdentity): Promise<void> {
  await db
    .insert(sshIdentities)
    .values({ pool, publicKey: identity.publicKey, fingerprint: identity.fingerprint })
    .onConflictDoUpdate({
      target: sshIdentities.pool,
      set: { publicKey: identity.publicKey, fingerprint: identity.fingerprint, updatedAt: sql`now()` },
    });
}

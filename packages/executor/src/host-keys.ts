import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { type Db, keyTypeName, knownHostKeys, sshFingerprint } from '@slipway/schema';
import { asc } from 'drizzle-orm';
import { execa } from 'execa';

/** A host key as a server shows it (ssh-keyscan) or known_hosts holds it. */
export interface HostKey {
  /** ssh's name of the key type: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`. */
  keyType: string;
  /** The key (base64). */
  key: string;
  /** `SHA256:…`. */
  fingerprint: string;
}

/** How known_hosts names a host: `host` on port 22, else `[host]:port`. */
export function hostPattern(host: string, port: number | null): string {
  return !port || port === 22 ? host : `[${host}]:${port}`;
}

/** The key types ssh prefers for a host it knows nothing of, best first (ssh's default order, certificates aside). */
const PREFERENCE = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'ssh-rsa',
];
const rank = (keyType: string) => {
  const at = PREFERENCE.indexOf(keyType);
  return at < 0 ? PREFERENCE.length : at;
};

/** Reads `host keytype key` lines (ssh-keyscan's output, known_hosts lines); markers, comments and others skipped. */
export function parseKeyLines(text: string): HostKey[] {
  const keys: HostKey[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || fields[0]?.startsWith('#') || fields[0]?.startsWith('@')) continue;
    const [, keyType = '', key = ''] = fields;
    if (!/^[A-Za-z0-9+/]+=*$/.test(key)) continue;
    keys.push({ keyType, key, fingerprint: sshFingerprint(key) });
  }
  return keys;
}

/** The host keys a server shows now, asked with ssh-keyscan (no sign-in); empty when it could not be reached. */
export async function scanHostKeys(
  host: string,
  port: number | null,
  signal: AbortSignal,
): Promise<{ keys: HostKey[]; error: string | null }> {
  const result = await execa(
    'ssh-keyscan',
    ['-T', '5', '-p', String(port ?? 22), '-t', 'ed25519,ecdsa,rsa', '--', host],
    { reject: false, stdin: 'ignore', cancelSignal: signal },
  );
  const keys = parseKeyLines(String(result.stdout)).sort((a, b) => rank(a.keyType) - rank(b.keyType));
  const said = String(result.stderr)
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .at(-1);
  return { keys, error: keys.length ? null : (said ?? `no ssh server answered at ${hostPattern(host, port)}`) };
}

/** The keys known_hosts files hold for a host (`ssh-keygen -F`, which also finds hashed entries). */
export async function knownKeysFor(files: string[], host: string, port: number | null): Promise<HostKey[]> {
  const found: HostKey[] = [];
  for (const file of files) {
    const result = await execa('ssh-keygen', ['-F', hostPattern(host, port), '-f', file], {
      reject: false,
      stdin: 'ignore',
    });
    if (result.exitCode === 0) found.push(...parseKeyLines(String(result.stdout)));
  }
  return found;
}

/** What a target's host key is, against what is known of it. */
export interface HostKeyReport {
  /** The key ssh will be shown (ED25519, ECDSA, RSA) and its fingerprint. */
  type: string;
  fingerprint: string;
  known: boolean;
  /** When the host is known with other keys only: the fingerprint known before (the key changed). */
  changedFrom: string | null;
}

/**
 * Compares what a server shows with what is known: ssh uses a key type it knows for the host when there is one, else
 * its preferred one. Known keys that match none shown mean the host key changed. Pure, for testing.
 */
export function judgeHostKey(shown: HostKey[], known: HostKey[]): HostKeyReport | null {
  const matching = shown.find((s) => known.some((k) => k.keyType === s.keyType && k.key === s.key));
  const chosen = matching ?? shown[0];
  if (!chosen) return null;
  const before = matching ? undefined : (known.find((k) => k.keyType === chosen.keyType) ?? known[0]);
  return {
    type: keyTypeName(chosen.keyType),
    fingerprint: chosen.fingerprint,
    known: matching !== undefined,
    changedFrom: before?.fingerprint ?? null,
  };
}

/** A host key report in one sentence (a job's log, a failure). */
export function describeHostKey(where: string, report: HostKeyReport): string {
  if (report.known) return `${where} shows the ${report.type} host key ${report.fingerprint}, which is known`;
  if (report.changedFrom)
    return (
      `the host key of ${where} CHANGED: it was ${report.changedFrom}, the host now shows ${report.type} ${report.fingerprint}; ` +
      'not connected. If the change is expected (the server was reinstalled), an admin compares the new fingerprint ' +
      'with the server’s own and trusts it in Test connection'
    );
  return (
    `the host key of ${where} is not known: it shows ${report.type} ${report.fingerprint}; an admin compares it with ` +
    'the server’s own (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` there) and trusts it in Test connection'
  );
}

/**
 * Writes Slipway's known_hosts (`<data dir>/ssh/known_hosts`) from the keys admins trusted, when it differs: made
 * under a name of its own and renamed into place, so ssh never reads half a file.
 */
export async function writeKnownHosts(db: Db, file: string): Promise<void> {
  const rows = await db.select().from(knownHostKeys).orderBy(asc(knownHostKeys.host), asc(knownHostKeys.port));
  const content = rows.map((r) => `${hostPattern(r.host, r.port)} ${r.keyType} ${r.publicKey}\n`).join('');
  if ((await readFile(file, 'utf8').catch(() => null)) === content) return;
  const scratch = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(scratch, content, { mode: 0o644 });
  await rename(scratch, file);
}

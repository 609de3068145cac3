import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { and, eq, isNotNull, like, not } from 'drizzle-orm';
import type { Db } from './db.ts';
import { ConfigError } from './environment.ts';
import { notificationChannels, webhooks } from './tables/projects.ts';

const PREFIX = 'v1:';

/**
 * Secrets at rest (repository passwords and tokens; the URLs and signing secrets of channels and webhooks):
 * AES-256-GCM, a fresh 12-byte IV each time, stored as `v1:` + base64(iv ‖ tag ‖ ciphertext). A value changed in the
 * database, or read with another key, fails to open.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** From SLIPWAY_SECRET_KEY (any string of 32 characters or more; its SHA-256 is the key). */
  static fromPassphrase(passphrase: string): SecretBox {
    return new SecretBox(createHash('sha256').update(passphrase, 'utf8').digest());
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  open(sealed: string): string {
    if (!sealed.startsWith(PREFIX)) throw new Error('not a sealed secret');
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(
        'the stored secret cannot be opened with this key (SLIPWAY_SECRET_KEY, or the key file, differs from the one it was stored with)',
      );
    }
  }
}

/**
 * A stored secret opened: sealed ones with the key; one stored before secrets of its kind were sealed (a channel's or
 * webhook's URL or signing secret) is still plain text until the server's next start seals it (sealStoredSecrets).
 */
export function openStored(box: SecretBox, stored: string): string {
  return stored.startsWith(PREFIX) ? box.open(stored) : stored;
}

/**
 * Seals what notification channels and webhooks hold that was stored before it was sealed — their signing secrets and
 * their URLs (a robot's URL carries its key); answers how many values.
 */
export async function sealStoredSecrets(db: Db, box: SecretBox): Promise<number> {
  let sealed = 0;
  const columns = [
    [notificationChannels, notificationChannels.url, 'url'],
    [notificationChannels, notificationChannels.secret, 'secret'],
    [webhooks, webhooks.url, 'url'],
    [webhooks, webhooks.secret, 'secret'],
  ] as const;
  for (const [table, column, name] of columns) {
    const plain = await db
      .select({ id: table.id, value: column })
      .from(table)
      .where(and(isNotNull(column), not(like(column, `${PREFIX}%`))));
    for (const { id, value } of plain) {
      // Only a value still plain is replaced: one changed meanwhile is left as it was written.
      const done = await db
        .update(table)
        .set({ [name]: box.seal(value as string) })
        .where(and(eq(table.id, id), eq(column, value as string)))
        .returning({ id: table.id });
      sealed += done.length;
    }
  }
  return sealed;
}

export const SECRET_KEY_FILE = 'secret.key';

/**
 * The key secrets are sealed with: SLIPWAY_SECRET_KEY when set, else `<dataDir>/secret.key`, made (32 random bytes,
 * mode 0600) on first start. The server and every executor must use the same one.
 */
export async function loadSecretBox(dataDir: string, passphrase: string | undefined): Promise<SecretBox> {
  if (passphrase) return SecretBox.fromPassphrase(passphrase);
  const file = join(dataDir, SECRET_KEY_FILE);
  await mkdir(dataDir, { recursive: true });
  try {
    await writeFile(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const content = (await readFile(file, 'utf8')).trim();
  if (content.length < 32) throw new ConfigError(`${file}: holds no key (delete it to have a new one made)`);
  return SecretBox.fromPassphrase(content);
}

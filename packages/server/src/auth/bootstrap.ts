import { randomBytes } from 'node:crypto';
import type { Db } from '@slipway/schema';
import { sql } from 'drizzle-orm';
import { hashPassword } from './passwords.ts';

/**
 * Creates `admin` when there are no users yet. Answers the generated password when one had to be made
 * (to print once), `undefined` otherwise.
 */
export async function ensureAdmin(
  db: Db,
  configured: string | undefined,
): Promise<{ generated?: string; created: boolean }> {
  const [{ count } = { count: 0 }] = await db.execute<{ count: number }>(sql`select count(*)::int as count from users`);
  if (count > 0) return { created: false };
  const generated = configured ? undefined : randomBytes(12).toString('hex');
  const passwordHash = await hashPassword(configured ?? (generated as string));
  const inserted = await db.execute(
    sql`insert into users (login, name, password_hash, is_admin, must_change_password)
        values ('admin', 'Administrator', ${passwordHash}, true, ${generated !== undefined})
        on conflict do nothing returning id`,
  );
  return inserted.length > 0 ? { generated, created: true } : { created: false };
}

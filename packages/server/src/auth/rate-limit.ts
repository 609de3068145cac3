import { type Db, loginFailures, RateLimited } from '@slipway/schema';
import { inArray, sql } from 'drizzle-orm';

/** Failed sign-ins allowed per window: per login from one address, and per address overall. */
export const LOGIN_LIMITS = { perLogin: 5, perAddress: 30, windowSeconds: 15 * 60 };

function keys(login: string, address: string): string[] {
  return [`login:${login.toLowerCase()}@${address}`, `address:${address}`];
}

/** Refuses a sign-in before any password is checked once too many recent attempts failed. */
export async function assertLoginAllowed(db: Db, login: string, address: string): Promise<void> {
  const [loginKey, addressKey] = keys(login, address);
  const rows = await db
    .select({
      key: loginFailures.key,
      failures: loginFailures.failures,
      retryAfter: sql<number>`ceil(extract(epoch from ${loginFailures.windowStart} + make_interval(secs => ${LOGIN_LIMITS.windowSeconds}) - now()))::int`,
    })
    .from(loginFailures)
    .where(inArray(loginFailures.key, [loginKey as string, addressKey as string]));
  for (const row of rows) {
    const limit = row.key === loginKey ? LOGIN_LIMITS.perLogin : LOGIN_LIMITS.perAddress;
    if (row.retryAfter > 0 && row.failures >= limit) throw new RateLimited(row.retryAfter);
  }
}

export async function recordLoginFailure(db: Db, login: string, address: string): Promise<void> {
  const window = sql`make_interval(secs => ${LOGIN_LIMITS.windowSeconds})`;
  for (const key of keys(login, address)) {
    await db
      .insert(loginFailures)
      .values({ key, failures: 1, windowStart: sql`now()` })
      .onConflictDoUpdate({
        target: loginFailures.key,
        set: {
          failures: sql`case when ${loginFailures.windowStart} + ${window} < now() then 1 else ${loginFailures.failures} + 1 end`,
          windowStart: sql`case when ${loginFailures.windowStart} + ${window} < now() then now() else ${loginFailures.windowStart} end`,
        },
      });
  }
}

export async function clearLoginFailures(db: Db, login: string, address: string): Promise<void> {
  const [loginKey] = keys(login, address);
  await db.delete(loginFailures).where(inArray(loginFailures.key, [loginKey as string]));
}

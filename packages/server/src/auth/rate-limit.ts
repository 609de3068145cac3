import { type Db, RateLimited } from '@slipway/schema';
import { sql } from 'drizzle-orm';

/** Sign-in attempts allowed per window: per login from one address, and per address overall. */
export const LOGIN_LIMITS = { perLogin: 5, perAddress: 30, windowSeconds: 15 * 60 };

function keys(login: string, address: string): [loginKey: string, addressKey: string] {
  return [`login:${login.toLowerCase()}@${address}`, `address:${address}`];
}

/**
 * Reserves one sign-in attempt before any password is checked. Both counters (login and address) are locked by the
 * first statement until the transaction ends, so attempts made at once queue here: of N concurrent attempts only the
 * first `limit` are let through to a password check; the others are refused (RATE_LIMITED, with the time left in
 * the window) and not counted. A successful sign-in gives its reservation back.
 */
export async function reserveLoginAttempt(db: Db, login: string, address: string): Promise<void> {
  const [loginKey, addressKey] = keys(login, address);
  const window = sql`make_interval(secs => ${LOGIN_LIMITS.windowSeconds})`;
  const expired = sql`login_failures.window_start + ${window} < now()`;
  await db.transaction(async (tx) => {
    const rows = await tx.execute<{ key: string; failures: number; retry_after: number }>(sql`
      insert into login_failures (key, failures, window_start)
      values (${loginKey}, 0, now()), (${addressKey}, 0, now())
      on conflict (key) do update set
        failures = case when ${expired} then 0 else login_failures.failures end,
        window_start = case when ${expired} then now() else login_failures.window_start end
      returning key, failures, ceil(extract(epoch from window_start + ${window} - now()))::int as retry_after`);
    for (const row of rows) {
      const limit = row.key === loginKey ? LOGIN_LIMITS.perLogin : LOGIN_LIMITS.perAddress;
      if (row.failures >= limit) throw new RateLimited(Math.max(1, row.retry_after));
    }
    await tx.execute(sql`update login_failures set failures = failures + 1 where key in (${loginKey}, ${addressKey})`);
  });
}

/** A sign-in succeeded: its login starts afresh, and its attempt no longer counts against the address. */
export async function releaseLoginAttempt(db: Db, login: string, address: string): Promise<void> {
  const [loginKey, addressKey] = keys(login, address);
  await db.execute(sql`
    with cleared as (delete from login_failures where key = ${loginKey})
    update login_failures set failures = greatest(failures - 1, 0) where key = ${addressKey}`);
}

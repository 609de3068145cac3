import { createHash, randomBytes } from 'node:crypto';
import { apiTokens, type Db, isConnectionError, readClock, sessions, type Tx, users } from '@slipway/schema';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { prepared } from '../prepared.ts';

export const SESSION_COOKIE = 'slipway_session';
export const SESSION_DAYS = 7;
const SESSION_PREFIX = 'slws_';
const API_TOKEN_PREFIX = 'slwt_';

export interface Viewer {
  id: number;
  login: string;
  isAdmin: boolean;
  /** The session row, when the request came with a session token (cookie or bearer). */
  sessionId: number | null;
  /** When the session ends (API tokens do not expire). */
  expiresAt: Date | null;
  /**
   * The tickets read clock (table `read_clock`) as this check saw it: a ticket page read at this value is what any
   * read in this request would see, so a page cached at it may be served again (see ClockCache).
   */
  ticketsClock: number;
}

const ticketsClock = sql<number>`(select ${readClock.tickets} from ${readClock} where ${readClock.id} = 1)`.mapWith(
  Number,
);

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function newToken(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

export async function createSession(db: Db, userId: number): Promise<{ token: string; expiresAt: Date }> {
  const token = newToken(SESSION_PREFIX);
  const expiresAt = new Date(Date.now() + SESSION_DAYS * 86_400_000);
  await db.insert(sessions).values({ userId, tokenHash: hashToken(token), expiresAt });
  return { token, expiresAt };
}

export async function createApiToken(db: Db, userId: number, name: string) {
  const token = newToken(API_TOKEN_PREFIX);
  const [row] = await db
    .insert(apiTokens)
    .values({ userId, name, tokenHash: hashToken(token) })
    .returning();
  if (!row) throw new Error('insert returned no row');
  return { token, apiToken: row };
}

/**
 * Finds who a session or API token belongs to; null for unknown, expired or revoked tokens and disabled users. Asked
 * once more when a pooled connection broke (a database restart), as every request and websocket operation asks it.
 */
export async function viewerForToken(db: Db, token: string): Promise<Viewer | null> {
  try {
    return await findViewer(db, token);
  } catch (error) {
    if (!isConnectionError(error)) throw error;
    return findViewer(db, token);
  }
}

const viewerBySession = (db: Db) =>
  prepared(db, 'viewer_by_session', (db, name) =>
    db
      .select({
        id: users.id,
        login: users.login,
        isAdmin: users.isAdmin,
        sessionId: sessions.id,
        expiresAt: sessions.expiresAt,
        ticketsClock,
      })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(
        and(
          eq(sessions.tokenHash, sql.placeholder('tokenHash')),
          gt(sessions.expiresAt, sql`now()`),
          eq(users.disabled, false),
        ),
      )
      .prepare(name),
  );

const viewerByApiToken = (db: Db) =>
  prepared(db, 'viewer_by_api_token', (db, name) =>
    db
      .select({
        id: users.id,
        login: users.login,
        isAdmin: users.isAdmin,
        ticketsClock,
        tokenId: apiTokens.id,
        // Whether "last used" is worth writing again (see touchApiToken).
        stale: sql<boolean>`${apiTokens.lastUsedAt} is null or ${apiTokens.lastUsedAt} < now() - interval '60 seconds'`,
      })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(
        and(
          eq(apiTokens.tokenHash, sql.placeholder('tokenHash')),
          isNull(apiTokens.revokedAt),
          eq(users.disabled, false),
        ),
      )
      .prepare(name),
  );

const touchApiTokenStatement = (db: Db) =>
  prepared(db, 'touch_api_token', (db, name) =>
    db
      .update(apiTokens)
      .set({ lastUsedAt: sql`now()` })
      .where(
        and(
          eq(apiTokens.id, sql.placeholder('id')),
          sql`(${apiTokens.lastUsedAt} is null or ${apiTokens.lastUsedAt} < now() - interval '60 seconds')`,
        ),
      )
      .prepare(name),
  );

/** Tokens whose "last used" this process is writing now: one write at a time per token. */
const touching = new Set<number>();

/**
 * "Last used" to the minute, written beside the request rather than in its way: a tool calling the API many times a
 * second reads its token like a session does (a prepared select, no row locked or written), and the row is written
 * at most once a minute. Revocation is untouched: every request still reads the token's row.
 */
function touchApiToken(db: Db, tokenId: number): void {
  if (touching.has(tokenId)) return;
  touching.add(tokenId);
  touchApiTokenStatement(db)
    .execute({ id: tokenId })
    .catch(() => {})
    .finally(() => touching.delete(tokenId));
}

async function findViewer(db: Db, token: string): Promise<Viewer | null> {
  if (token.length > 200) return null;
  const tokenHash = hashToken(token);
  if (token.startsWith(SESSION_PREFIX)) {
    const [row] = await viewerBySession(db).execute({ tokenHash });
    return row ?? null;
  }
  if (token.startsWith(API_TOKEN_PREFIX)) {
    const [row] = await viewerByApiToken(db).execute({ tokenHash });
    if (!row) return null;
    const { tokenId, stale, ...viewer } = row;
    if (stale) touchApiToken(db, tokenId);
    return { ...viewer, sessionId: null, expiresAt: null };
  }
  return null;
}

export async function endSession(db: Db, sessionId: number): Promise<void> {
  await db.delete(sessions).where(eq(sessions.id, sessionId));
}

/** Signs a user out everywhere and revokes their API tokens (a disabled user's access ends at once). */
export async function endAllAccess(db: Db | Tx, userId: number): Promise<void> {
  await db.delete(sessions).where(eq(sessions.userId, userId));
  await db
    .update(apiTokens)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(apiTokens.userId, userId), isNull(apiTokens.revokedAt)));
}

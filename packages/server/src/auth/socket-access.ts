import { CHANNELS, type Db, Forbidden, memberships, roleAtLeast } from '@slipway/schema';
import { and, eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { NotificationHub } from '../notifications.ts';
import { type Viewer, viewerForToken } from './tokens.ts';

/** graphql-ws's close code for a connection whose credentials no longer hold: its client does not retry it. */
export const CREDENTIALS_ENDED = 4401;

/** The longest a timer may wait (about 24.8 days); a session expiring later is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One open websocket: the credential it was opened with and the projects its live operations watch. */
export interface SocketAccessEntry {
  readonly token: string;
  viewer: Viewer;
  close(code: number, reason: string): void;
  readonly watches: Set<{ projectId: number; controller: AbortController }>;
  expiry: NodeJS.Timeout | null;
  closed: boolean;
}

/**
 * Keeps every open websocket of this replica honest about its credentials. Each operation on a socket re-checks
 * the token; and when a user's access changes anywhere (a trigger sends `slipway_access_changed` with the user's id
 * to every replica), that user's sockets are checked at once: a revoked token, an ended session or a disabled user
 * closes the socket (4401), a lost membership ends the subscriptions that watch that project with FORBIDDEN.
 */
export class SocketAccess {
  private readonly byUser = new Map<number, { entries: Set<SocketAccessEntry>; off: () => void }>();

  constructor(
    private readonly db: Db,
    private readonly hub: NotificationHub,
    private readonly logger: Logger,
  ) {}

  /** Starts watching a socket whose credential was just accepted. */
  open(token: string, viewer: Viewer, close: (code: number, reason: string) => void): SocketAccessEntry {
    const entry: SocketAccessEntry = { token, viewer, close, watches: new Set(), expiry: null, closed: false };
    let user = this.byUser.get(viewer.id);
    if (!user) {
      const entries = new Set<SocketAccessEntry>();
      const off = this.hub.on(CHANNELS.accessChanged, String(viewer.id), () => {
        for (const each of entries) void this.recheck(each);
      });
      user = { entries, off };
      this.byUser.set(viewer.id, user);
    }
    user.entries.add(entry);
    this.scheduleExpiry(entry);
    return entry;
  }

  /** Forgets a socket that closed. */
  release(entry: SocketAccessEntry): void {
    entry.closed = true;
    if (entry.expiry) clearTimeout(entry.expiry);
    for (const watch of entry.watches) watch.controller.abort(new Error('the connection closed'));
    entry.watches.clear();
    const user = this.byUser.get(entry.viewer.id);
    if (!user) return;
    user.entries.delete(entry);
    if (user.entries.size === 0) {
      user.off();
      this.byUser.delete(entry.viewer.id);
    }
  }

  /** The viewer now, for an operation about to run on the socket; null (and the socket closing) when it ended. */
  async current(entry: SocketAccessEntry): Promise<Viewer | null> {
    // A pooled connection that a database restart broke fails once, then reconnects: one more try.
    const viewer = await viewerForToken(this.db, entry.token).catch(() => viewerForToken(this.db, entry.token));
    if (!viewer || viewer.id !== entry.viewer.id) {
      // Let the operation's own error reach the client first.
      setImmediate(() => this.end(entry));
      return null;
    }
    entry.viewer = viewer;
    return viewer;
  }

  /** A signal that aborts (with FORBIDDEN) when the socket's user may no longer see the project. */
  watch(entry: SocketAccessEntry, projectId: number): { signal: AbortSignal; done(): void } {
    const watch = { projectId, controller: new AbortController() };
    entry.watches.add(watch);
    return { signal: watch.controller.signal, done: () => entry.watches.delete(watch) };
  }

  private async recheck(entry: SocketAccessEntry): Promise<void> {
    if (entry.closed) return;
    try {
      const viewer = await this.current(entry);
      if (!viewer) return;
      for (const watch of entry.watches) {
        if (viewer.isAdmin) continue;
        const [membership] = await this.db
          .select({ role: memberships.role })
          .from(memberships)
          .where(and(eq(memberships.projectId, watch.projectId), eq(memberships.userId, viewer.id)));
        if (!roleAtLeast(membership?.role, 'VIEWER')) {
          entry.watches.delete(watch);
          watch.controller.abort(new Forbidden('you no longer have access to this project'));
        }
      }
    } catch (error) {
      // The database is unreachable: the next notification (or the catch-up after the reconnect) checks again.
      this.logger.warn({ err: error }, 'could not re-check a websocket’s access');
    }
  }

  private end(entry: SocketAccessEntry): void {
    if (entry.closed) return;
    this.logger.info({ userId: entry.viewer.id }, 'closing a websocket whose credentials ended');
    entry.close(CREDENTIALS_ENDED, 'Unauthorized: the session or token has ended');
    this.release(entry);
  }

  private scheduleExpiry(entry: SocketAccessEntry): void {
    if (!entry.viewer.expiresAt) return;
    const wait = Math.max(0, entry.viewer.expiresAt.getTime() - Date.now());
    entry.expiry = setTimeout(
      () => {
        entry.expiry = null;
        void this.current(entry).then((viewer) => viewer && this.scheduleExpiry(entry));
      },
      Math.min(wait + 1000, MAX_TIMER_MS),
    );
    entry.expiry.unref();
  }
}

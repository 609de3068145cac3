import { CHANNELS, type Db, Forbidden, memberships, roleAtLeast, SlipwayError } from '@slipway/schema';
import { and, eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { NotificationHub } from '../notifications.ts';
import { type Viewer, viewerForToken } from './tokens.ts';

/** graphql-ws's close code for a connection whose credentials no longer hold: its client does not retry it. */
export const CREDENTIALS_ENDED = 4401;

/** The longest a timer may wait (about 24.8 days); a session expiring later is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Subscriptions one websocket may hold at once, and one user across their websockets on this replica. */
export const SUBSCRIPTION_LIMITS = { perSocket: 20, perUser: 100 };

/** One open websocket: the credential it was opened with and the projects its live operations watch. */
export interface SocketAccessEntry {
  readonly token: string;
  viewer: Viewer;
  close(code: number, reason: string): void;
  readonly watches: Set<{ projectId: number; controller: AbortController }>;
  /** The ids of the subscriptions running on the socket. */
  readonly subscriptions: Set<string>;
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
    const entry: SocketAccessEntry = {
      token,
      viewer,
      close,
      watches: new Set(),
      subscriptions: new Set(),
      expiry: null,
      closed: false,
    };
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
    const viewer = await viewerForToken(this.db, entry.token);
    if (!viewer || viewer.id !== entry.viewer.id) {
      // Let the operation's own error reach the client first.
      setImmediate(() => this.end(entry));
      return null;
    }
    entry.viewer = viewer;
    return viewer;
  }

  /**
   * Counts a subscription starting on the socket; answers the error to refuse it with when the socket or its user
   * already holds as many as allowed (the socket and its other operations go on).
   */
  startSubscription(entry: SocketAccessEntry, id: string): RateLimitedSubscription | null {
    if (entry.subscriptions.size >= SUBSCRIPTION_LIMITS.perSocket)
      return new RateLimitedSubscription('socket', SUBSCRIPTION_LIMITS.perSocket);
    let held = 0;
    for (const each of this.byUser.get(entry.viewer.id)?.entries ?? []) held += each.subscriptions.size;
    if (held >= SUBSCRIPTION_LIMITS.perUser) return new RateLimitedSubscription('user', SUBSCRIPTION_LIMITS.perUser);
    entry.subscriptions.add(id);
    return null;
  }

  endSubscription(entry: SocketAccessEntry, id: string): void {
    entry.subscriptions.delete(id);
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

/** More subscriptions than a socket or a user may hold at once. */
export class RateLimitedSubscription extends SlipwayError {
  constructor(scope: 'socket' | 'user', limit: number) {
    super(
      'RATE_LIMITED',
      scope === 'socket'
        ? `this connection already has ${limit} subscriptions, the most it may hold`
        : `you already have ${limit} subscriptions open, the most a user may hold`,
      { scope, limit },
    );
  }
}

import type { Sql } from '@slipway/schema';
import { CHANNELS } from '@slipway/schema';
import type { Logger } from 'pino';

type Listener = (payload: string) => void;

/**
 * One LISTEN connection per server feeding every subscription on this replica. postgres.js re-listens after a
 * reconnect and calls `onlisten` again: subscribers are woken then, so they re-read what they missed.
 */
export class NotificationHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly unlisten: (() => Promise<void>)[] = [];

  constructor(
    private readonly sql: Sql,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    for (const channel of [
      CHANNELS.jobLog,
      CHANNELS.jobUpdated,
      CHANNELS.jobEnded,
      CHANNELS.ticketEvent,
      CHANNELS.accessChanged,
    ]) {
      const listening = await this.sql.listen(
        channel,
        (payload) => this.dispatch(channel, payload),
        () => this.catchUp(channel),
      );
      this.unlisten.push(() => listening.unlisten());
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.unlisten.map((u) => u()));
  }

  /** Calls `listener` with each payload on `channel` whose key (the part before ":", or all of it) is `key`. */
  on(channel: string, key: string, listener: Listener): () => void {
    const name = `${channel}/${key}`;
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(name);
    };
  }

  get subscriberCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  private dispatch(channel: string, payload: string): void {
    const key = payload.split(':')[0] ?? payload;
    for (const listener of this.listeners.get(`${channel}/${key}`) ?? []) listener(payload);
  }

  /** After a (re)connect, notifications may have been missed: wake everyone on the channel to re-read. */
  private catchUp(channel: string): void {
    this.logger.debug({ channel }, 'listening');
    for (const [name, set] of this.listeners) {
      if (name.startsWith(`${channel}/`)) for (const listener of set) listener('');
    }
  }
}

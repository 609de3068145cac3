import { CHANNELS, SlipwayError, type Sql } from '@slipway/schema';
import type { Logger } from 'pino';
import type { NotificationHub } from './notifications.ts';

/** Items kept in memory per feed, so a subscriber that has just caught up from the table joins without a gap. */
const TAIL = 5000;
/** A subscriber catching up reads the table in pages of this many. */
const PAGE = 2000;
/** Items a subscriber may have waiting; past this it is cut off (it resumes from its last position). */
export const MAX_QUEUED = 20_000;

/** A subscriber that cannot keep up is told so (and resumes from the last item it has). */
export class SubscriberTooSlow extends SlipwayError {
  constructor(position: number) {
    super('RATE_LIMITED', `this subscription fell more than ${MAX_QUEUED} items behind; resume after ${position}`, {
      reason: 'TOO_SLOW',
      resumeAfter: position,
    });
  }
}

/** Where a feed reads from: an ordered table (log lines by seq, ticket events by id) and what wakes it. */
export interface SequenceSource<T> {
  /** Notifications that mean new items: [channel, key]. */
  itemsChannel: [string, string];
  /** A notification that means the sequence may have ended (a job finished); none for endless ones. */
  endChannel?: [string, string];
  /** The position of the newest item now, and whether no item will come after it. */
  start(): Promise<{ position: number; ended: boolean }>;
  read(after: number, limit: number): Promise<T[]>;
  position(item: T): number;
  ended?(): Promise<boolean>;
}

interface Subscriber<T> {
  position: number;
  live: boolean;
  queue: T[][];
  queued: number;
  error: Error | null;
  wake: (() => void) | null;
}

/**
 * One reader of one ordered sequence (a job's log, a project's ticket events) per server replica, however many
 * subscribe: each notification costs one query, and the items read are handed to every live subscriber as the same
 * array (so what is done with a batch can be done once). A subscriber that starts behind reads the table itself, page
 * by page as it consumes them, then joins the live stream from the in-memory tail: no gap, no duplicate. Each has a
 * bounded queue: one that falls too far behind is ended with SubscriberTooSlow, never slowing the others.
 */
class SequenceFeed<T> {
  private position = 0;
  private tail: T[] = [];
  private ended = false;
  private pumping = false;
  private again = false;
  private checkEnd = false;
  private readonly subscribers = new Set<Subscriber<T>>();
  private readonly off: (() => void)[] = [];
  readonly ready: Promise<void>;

  constructor(
    private readonly source: SequenceSource<T>,
    hub: NotificationHub,
    private readonly logger: Logger,
    private readonly onEmpty: () => void,
  ) {
    const [channel, key] = source.itemsChannel;
    this.off.push(hub.on(channel, key, () => this.wake(false)));
    if (source.endChannel) {
      const [endChannel, endKey] = source.endChannel;
      this.off.push(hub.on(endChannel, endKey, () => this.wake(true)));
    }
    this.ready = source.start().then((start) => {
      this.position = start.position;
      this.ended = start.ended;
    });
  }

  async *follow(after: number, signal: AbortSignal): AsyncGenerator<T[]> {
    await this.ready;
    const sub: Subscriber<T> = { position: after, live: false, queue: [], queued: 0, error: null, wake: null };
    this.subscribers.add(sub);
    // The client went away (or lost access): stop waiting at once, not at the next item.
    const onAbort = () => sub.wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!sub.live && !signal.aborted) {
        const page = await this.source.read(sub.position, PAGE);
        if (page.length > 0) {
          sub.position = this.source.position(page.at(-1) as T);
          yield page;
        }
        if (page.length === PAGE) continue;
        // Caught up with the table: join the live stream if the tail has everything since (else read again).
        const first = this.tail[0];
        if (first === undefined || this.source.position(first) <= sub.position + 1 || this.position <= sub.position) {
          sub.live = true;
          const missed = this.tail.filter((item) => this.source.position(item) > sub.position);
          if (missed.length > 0) sub.queue.push(missed);
        }
      }
      while (!signal.aborted) {
        if (sub.error) throw sub.error;
        const batch = sub.queue.shift();
        if (batch) {
          sub.queued -= batch.length;
          const fresh =
            this.source.position(batch[0] as T) > sub.position
              ? batch
              : batch.filter((item) => this.source.position(item) > sub.position);
          if (fresh.length === 0) continue;
          sub.position = this.source.position(fresh.at(-1) as T);
          yield fresh;
          continue;
        }
        if (this.ended && sub.position >= this.position) return;
        await new Promise<void>((resolve) => (sub.wake = resolve));
        sub.wake = null;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.subscribers.delete(sub);
      if (this.subscribers.size === 0) this.close();
    }
  }

  private wake(end: boolean): void {
    if (end) this.checkEnd = true;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pump()
      .catch((error) => this.logger.warn({ err: error }, 'a feed could not read; the next notification retries'))
      .finally(() => {
        this.pumping = false;
        if (this.again) {
          this.again = false;
          this.wake(false);
        }
      });
  }

  private async pump(): Promise<void> {
    // The end first: items written before the sequence ended are then all visible to the reads that follow.
    const ended = this.checkEnd && this.source.ended ? await this.source.ended() : false;
    this.checkEnd = false;
    for (;;) {
      const items = await this.source.read(this.position, TAIL);
      if (items.length > 0) {
        this.position = this.source.position(items.at(-1) as T);
        this.tail = [...this.tail, ...items].slice(-TAIL);
        this.deliver(items);
      }
      if (items.length < TAIL) break;
    }
    if (ended) {
      this.ended = true;
      for (const sub of this.subscribers) sub.wake?.();
    }
  }

  private deliver(items: T[]): void {
    for (const sub of this.subscribers) {
      if (!sub.live) continue;
      sub.queue.push(items);
      sub.queued += items.length;
      if (sub.queued > MAX_QUEUED) {
        sub.error = new SubscriberTooSlow(sub.position);
        sub.queue = [];
      }
      sub.wake?.();
    }
  }

  private close(): void {
    for (const off of this.off) off();
    this.onEmpty();
  }
}

/** A stored line; `at` is ISO 8601 in UTC, as the API answers it (made by PostgreSQL, no Date per line). */
import type { FeedLine as LogLine } from './graphql/log-batch.ts';

export type { LogLine };

/** A timestamp column as the API's DateTime: ISO 8601, UTC, milliseconds. */
const ISO = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"';

export interface TicketEventRecord {
  id: number;
  ticketId: number;
  projectId: number;
  action: string;
  fromState: string | null;
  toState: string;
  actorId: number | null;
  comment: string | null;
  at: string;
}

/**
 * One reader of a job's row per replica: a state notification costs one query, whose row every subscriber gets
 * (only the newest matters: a subscriber that is behind skips to it).
 */
class JobStateFeed {
  private readonly subscribers = new Set<{ latest: JobState | null; wake: (() => void) | null }>();
  private readonly off: () => void;
  private reading: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly read: () => Promise<JobState | null>,
    hub: NotificationHub,
    key: string,
    private readonly onEmpty: () => void,
  ) {
    this.off = hub.on(CHANNELS.jobUpdated, key, () => this.refresh());
  }

  private refresh(): void {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = this.read()
      .then((row) => {
        for (const sub of this.subscribers) {
          sub.latest = row;
          sub.wake?.();
        }
      })
      .catch(() => {})
      .finally(() => {
        this.reading = null;
        if (this.again) {
          this.again = false;
          this.refresh();
        }
      });
  }

  async *follow(signal: AbortSignal): AsyncGenerator<JobState> {
    const sub: { latest: JobState | null; wake: (() => void) | null } = { latest: null, wake: null };
    this.subscribers.add(sub);
    const onAbort = () => sub.wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      sub.latest = await this.read();
      let previous = '';
      while (!signal.aborted && sub.latest) {
        const job = sub.latest;
        const seen = `${job.state}/${job.attempts}/${job.lockedBy}`;
        if (seen !== previous) yield job;
        previous = seen;
        if (job.state === 'SUCCEEDED' || job.state === 'FAILED') return;
        await new Promise<void>((resolve) => (sub.wake = resolve));
        sub.wake = null;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.subscribers.delete(sub);
      if (this.subscribers.size === 0) {
        this.off();
        this.onEmpty();
      }
    }
  }
}

/** What a jobUpdated subscriber is told: the job's row. */
export interface JobState {
  state: string;
  attempts: number;
  lockedBy: string | null;
}

/** The shared feeds of this replica: one per job log, job state and project's ticket events, while anyone follows. */
export class Feeds {
  private readonly feeds = new Map<string, SequenceFeed<unknown>>();
  private readonly states = new Map<number, JobStateFeed>();

  constructor(
    private readonly sql: Sql,
    private readonly hub: NotificationHub,
    private readonly logger: Logger,
  ) {}

  private feed<T>(name: string, source: () => SequenceSource<T>): SequenceFeed<T> {
    let feed = this.feeds.get(name) as SequenceFeed<T> | undefined;
    if (!feed) {
      feed = new SequenceFeed(source(), this.hub, this.logger, () => this.feeds.delete(name));
      this.feeds.set(name, feed as SequenceFeed<unknown>);
    }
    return feed;
  }

  /** A job's output after `afterSeq`: stored lines, then new ones; ends once the job has finished and all are sent. */
  jobLog(jobId: number, afterSeq: number, signal: AbortSignal): AsyncGenerator<LogLine[]> {
    const { sql } = this;
    return this.feed<LogLine>(`log/${jobId}`, () => ({
      itemsChannel: [CHANNELS.jobLog, String(jobId)],
      endChannel: [CHANNELS.jobUpdated, String(jobId)],
      start: async () => {
        const [row] = await sql<{ position: number; ended: boolean }[]>`
          select coalesce((select max(seq) from job_log_lines where job_id = ${jobId}), 0)::int as position,
                 coalesce((select state in ('SUCCEEDED', 'FAILED') from jobs where id = ${jobId}), true) as ended`;
        return row ?? { position: 0, ended: true };
      },
      read: (after, limit) => sql<LogLine[]>`
        select seq, stream, text, to_char(at at time zone 'UTC', ${ISO}) as at,
          (extract(epoch from at) * 1000)::float8 as ms from job_log_lines
        where job_id = ${jobId} and seq > ${after} order by seq limit ${limit}`,
      position: (line) => line.seq,
      ended: async () => {
        const [row] = await sql<{ ended: boolean }[]>`select state in ('SUCCEEDED', 'FAILED') as ended from jobs
          where id = ${jobId}`;
        return row?.ended ?? true;
      },
    })).follow(afterSeq, signal);
  }

  /** A project's ticket events after `afterId` (null: from now on), one at a time, endlessly. */
  async *ticketEvents(
    projectId: number,
    afterId: number | null,
    signal: AbortSignal,
  ): AsyncGenerator<TicketEventRecord> {
    const { sql } = this;
    const feed = this.feed<TicketEventRecord>(`events/${projectId}`, () => ({
      itemsChannel: [CHANNELS.ticketEvent, String(projectId)],
      start: async () => {
        const [row] = await sql<{ position: number }[]>`
          select coalesce(max(id), 0)::bigint as position from ticket_events where project_id = ${projectId}`;
        return { position: Number(row?.position ?? 0), ended: false };
      },
      read: (after, limit) => sql<TicketEventRecord[]>`
        select id::int, ticket_id::int as "ticketId", project_id::int as "projectId", action,
               from_state as "fromState", to_state as "toState", actor_id::int as "actorId", comment,
               to_char(at at time zone 'UTC', ${ISO}) as at
        from ticket_events where project_id = ${projectId} and id > ${after} order by id limit ${limit}`,
      position: (event) => event.id,
    }));
    await feed.ready;
    for await (const batch of feed.follow(afterId ?? (await this.newestEvent(projectId)), signal)) yield* batch;
  }

  /** A job's row now, then again each time its state changes; ends once it has finished. */
  jobState<J extends JobState>(jobId: number, read: () => Promise<J | null>, signal: AbortSignal): AsyncGenerator<J> {
    let feed = this.states.get(jobId);
    if (!feed) {
      feed = new JobStateFeed(read, this.hub, String(jobId), () => this.states.delete(jobId));
      this.states.set(jobId, feed);
    }
    return feed.follow(signal) as AsyncGenerator<J>;
  }

  /**
   * A project's jobs as each ends, from now on (what a page showing their results looks again at): the row, read
   * once per job for every subscriber of this replica.
   */
  async *jobsEnded<J>(
    projectId: number,
    read: (jobId: number) => Promise<J | null>,
    signal: AbortSignal,
  ): AsyncGenerator<J> {
    const ended: number[] = [];
    let wake: (() => void) | null = null;
    const off = this.hub.on(CHANNELS.jobEnded, String(projectId), (payload) => {
      const jobId = Number(payload.split(':')[1]);
      if (!Number.isSafeInteger(jobId)) return;
      ended.push(jobId);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        // Pages look again at what ended: a subscriber far behind needs the newest, not every one.
        if (ended.length > 1000) ended.splice(0, ended.length - 1000);
        const jobId = ended.shift();
        if (jobId === undefined) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
          continue;
        }
        const job = await read(jobId);
        if (job) yield job;
      }
    } finally {
      off();
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async newestEvent(projectId: number): Promise<number> {
    const [row] = await this.sql<{ id: number }[]>`
      select coalesce(max(id), 0)::int as id from ticket_events where project_id = ${projectId}`;
    return row?.id ?? 0;
  }

  get size(): number {
    return this.feeds.size + this.states.size;
  }
}

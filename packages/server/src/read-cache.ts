/**
 * What a replica keeps in memory of the tickets read clock's data, keyed by the clock. Every transaction that changes
 * a ticket, a user or a membership ticks the clock at its commit (migrations 0008, 0023), and every request reads the
 * clock with its credentials (`Viewer.ticketsClock`). A value read at clock N is served again only to a request that
 * saw N too: any request that began after a change committed — on this replica or any other, whoever made it (a
 * mutation, the executor, an admin in psql) — sees a later clock and reads the tables. So no client reads a stale
 * value after a mutation's answer, without waiting for a NOTIFY to arrive.
 *
 * Two kinds are kept: ticket pages (the rows of one `tickets` query: tickets with their authors), and whole answers
 * to queries that read nothing but those tables (response-cache.ts). Bounded by weight (rows, bytes); the oldest
 * values go first.
 */
export class ClockCache<Value> {
  private clock = Number.NEGATIVE_INFINITY;
  private readonly values = new Map<string, Value>();
  private weight = 0;
  /** Values served since the start (`/metrics`). */
  hits = 0;

  constructor(
    private readonly maxWeight: number,
    private readonly weigh: (value: Value) => number,
  ) {}

  get(clock: number, key: string): Value | undefined {
    const value = clock === this.clock ? this.values.get(key) : undefined;
    if (value !== undefined) this.hits++;
    return value;
  }

  /** Keeps a value read by a request that saw `clock`; values of earlier clocks are dropped then. */
  set(clock: number, key: string, value: Value): void {
    const weight = this.weigh(value);
    if (!Number.isFinite(clock) || clock < this.clock || weight > this.maxWeight) return;
    if (clock > this.clock) {
      this.clock = clock;
      this.values.clear();
      this.weight = 0;
    }
    const replaced = this.values.get(key);
    if (replaced !== undefined) {
      this.values.delete(key);
      this.weight -= this.weigh(replaced);
    }
    this.values.set(key, value);
    this.weight += weight;
    for (const [oldest, kept] of this.values) {
      if (this.weight <= this.maxWeight) break;
      this.values.delete(oldest);
      this.weight -= this.weigh(kept);
    }
  }

  get size(): { values: number; weight: number } {
    return { values: this.values.size, weight: this.weight };
  }
}

/** Ticket pages, bounded by the rows they hold (20,000 unless told). */
export const ticketPageCache = <Row>(maxRows = 20_000) =>
  new ClockCache<readonly Row[]>(maxRows, (page) => page.length);

/**
 * Ticket pages (the rows of one `tickets` query: tickets with their authors) kept in memory per replica, keyed by
 * the tickets read clock. Every transaction that changes a ticket or a user ticks the clock at its commit (migration
 * 0008), and every request reads the clock with its credentials (`Viewer.ticketsClock`). A page read at clock N is
 * served again only to a request that saw N too: any request that began after a change committed — on this replica
 * or any other, whoever made it (a mutation, the executor, an admin in psql) — sees a later clock and reads the
 * table. So no client reads a stale page after a mutation's answer, without waiting for a NOTIFY to arrive.
 *
 * Bounded by rows held; the oldest pages go first.
 */
export class TicketPageCache<Row> {
  private clock = Number.NEGATIVE_INFINITY;
  private readonly pages = new Map<string, readonly Row[]>();
  private rows = 0;

  constructor(private readonly maxRows = 20_000) {}

  get(clock: number, key: string): readonly Row[] | undefined {
    return clock === this.clock ? this.pages.get(key) : undefined;
  }

  /** Keeps a page read by a request that saw `clock`; pages of earlier clocks are dropped then. */
  set(clock: number, key: string, page: readonly Row[]): void {
    if (!Number.isFinite(clock) || clock < this.clock || page.length > this.maxRows) return;
    if (clock > this.clock) {
      this.clock = clock;
      this.pages.clear();
      this.rows = 0;
    }
    const replaced = this.pages.get(key);
    if (replaced) {
      this.pages.delete(key);
      this.rows -= replaced.length;
    }
    this.pages.set(key, page);
    this.rows += page.length;
    for (const [oldest, rows] of this.pages) {
      if (this.rows <= this.maxRows) break;
      this.pages.delete(oldest);
      this.rows -= rows.length;
    }
  }

  get size(): { pages: number; rows: number } {
    return { pages: this.pages.size, rows: this.rows };
  }
}

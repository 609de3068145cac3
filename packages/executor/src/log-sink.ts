import { CHANNELS, type Db, jobLogLines } from '@slipway/schema';
import { sql } from 'drizzle-orm';

type Stream = (typeof jobLogLines.$inferInsert)['stream'];
type Line = typeof jobLogLines.$inferInsert;

const MAX_LINE = 8192;

/**
 * Collects a job's output lines and writes them in batches: one multi-row INSERT and one NOTIFY per batch, at
 * most `maxDelayMs` after the first line of the batch or as soon as `maxLines` are waiting.
 */
export class LogSink {
  private buffer: Line[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private nextSeq: number;
  linesWritten = 0;

  constructor(
    private readonly db: Db,
    private readonly jobId: number,
    lastSeq: number,
    private readonly options: { maxLines: number; maxDelayMs: number } = { maxLines: 1000, maxDelayMs: 50 },
  ) {
    this.nextSeq = lastSeq + 1;
  }

  line(stream: Stream, text: string): void {
    this.buffer.push({
      jobId: this.jobId,
      seq: this.nextSeq++,
      stream,
      text: text.length > MAX_LINE ? `${text.slice(0, MAX_LINE)}… (${text.length - MAX_LINE} more characters)` : text,
      at: new Date(),
    });
    if (this.buffer.length >= this.options.maxLines) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.maxDelayMs);
  }

  system(text: string): void {
    this.line('SYSTEM', text);
  }

  /** Writes what is waiting; resolves when every line given so far is stored. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return this.writing;
    this.writing = this.writing.then(() => this.write(batch));
    return this.writing;
  }

  private async write(batch: Line[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.transaction(async (tx) => {
          await tx.insert(jobLogLines).values(batch).onConflictDoNothing();
          await tx.execute(sql`select pg_notify(${CHANNELS.jobLog}, ${`${this.jobId}:${batch.at(-1)?.seq}`})`);
        });
        this.linesWritten += batch.length;
        return;
      } catch (error) {
        // The database may be restarting: keep the lines and try again, for a while.
        if (attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, Math.min(250 * attempt, 2000)));
      }
    }
  }
}

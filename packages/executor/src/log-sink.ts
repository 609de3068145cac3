import { CHANNELS, type Db, type jobLogLines } from '@slipway/schema';

type Stream = (typeof jobLogLines.$inferInsert)['stream'];

const MAX_LINE = 8192;

/** Lines a batch holds at most, and how long the first line of a batch waits for company. */
export const LOG_BATCH = { maxLines: 2000, maxDelayMs: 25 };

/**
 * Collects a job's output lines and writes them in batches: one statement per batch (the rows as four arrays,
 * `unnest`ed, and the NOTIFY), at most `maxDelayMs` after the first line of the batch or as soon as `maxLines` wait.
 */
export class LogSink {
  private seqs: number[] = [];
  private streams: Stream[] = [];
  private texts: string[] = [];
  private ats: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private nextSeq: number;
  /** Values no line may show (a repository password): each is replaced, as written and URL-encoded. */
  private readonly secrets: string[] = [];
  linesWritten = 0;

  constructor(
    private readonly db: Db,
    private readonly jobId: number,
    lastSeq: number,
    private readonly options: { maxLines: number; maxDelayMs: number } = LOG_BATCH,
  ) {
    this.nextSeq = lastSeq + 1;
  }

  /** From now on, `secret` is replaced by `••••••` in every line (and in what `redact` is given). */
  keepSecret(secret: string): void {
    if (secret.length === 0) return;
    for (const form of new Set([secret, encodeURIComponent(secret)])) this.secrets.push(form);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.replaceAll(secret, '••••••');
    return out;
  }

  line(stream: Stream, raw: string): void {
    const text = this.secrets.length > 0 ? this.redact(raw) : raw;
    this.seqs.push(this.nextSeq++);
    this.streams.push(stream);
    this.texts.push(
      text.length > MAX_LINE ? `${text.slice(0, MAX_LINE)}… (${text.length - MAX_LINE} more characters)` : text,
    );
    this.ats.push(Date.now());
    if (this.seqs.length >= this.options.maxLines) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.maxDelayMs);
  }

  system(text: string): void {
    this.line('SYSTEM', text);
  }

  /** Writes what is waiting; resolves when every line given so far is stored. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.seqs.length === 0) return this.writing;
    const batch = { seqs: this.seqs, streams: this.streams, texts: this.texts, ats: this.ats };
    this.seqs = [];
    this.streams = [];
    this.texts = [];
    this.ats = [];
    this.writing = this.writing.then(() => this.write(batch));
    return this.writing;
  }

  private async write(batch: { seqs: number[]; streams: Stream[]; texts: string[]; ats: number[] }): Promise<void> {
    const sql = this.db.$client;
    const payload = `${this.jobId}:${batch.seqs.at(-1)}`;
    for (let attempt = 1; ; attempt++) {
      try {
        // One statement: the rows and the NOTIFY commit together (the WITH runs whatever the SELECT reads).
        await sql`
          with stored as (
            insert into job_log_lines (job_id, seq, stream, text, at)
            select ${this.jobId}, u.seq, u.stream::log_stream, u.text, to_timestamp(u.at / 1000.0)
            from unnest(${batch.seqs}::int[], ${batch.streams}::text[], ${batch.texts}::text[], ${batch.ats}::float8[])
              as u(seq, stream, text, at)
            on conflict do nothing
          )
          select pg_notify(${CHANNELS.jobLog}, ${payload})`;
        this.linesWritten += batch.seqs.length;
        return;
      } catch (error) {
        // The database may be restarting: keep the lines and try again, for a while.
        if (attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, Math.min(250 * attempt, 2000)));
      }
    }
  }
}

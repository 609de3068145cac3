/** A stored output line as the job log feed reads it. */
export interface FeedLine {
  seq: number;
  stream: 'STDOUT' | 'STDERR' | 'SYSTEM';
  text: string;
  /** ISO 8601 (the API's DateTime). */
  at: string;
  /** The same instant in ms since the epoch. */
  ms: number;
}

/**
 * A batch of output lines in the compact form (`jobLogBatch`): each field once per batch instead of once per line —
 * the texts, the streams as one letter each, the seqs as a first one (and the list only when they are not
 * consecutive), the times as offsets from the first line's.
 */
export interface LogBatch {
  firstSeq: number;
  lastSeq: number;
  seqs: number[] | null;
  streams: string;
  texts: string[];
  at: string;
  offsets: number[];
}

const LETTER = { STDOUT: 'O', STDERR: 'E', SYSTEM: 'S' } as const;

export function logBatchOf(lines: readonly FeedLine[]): LogBatch {
  const first = lines[0];
  const firstSeq = first?.seq ?? 0;
  let consecutive = true;
  let streams = '';
  const texts: string[] = new Array(lines.length);
  const offsets: number[] = new Array(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as FeedLine;
    if (line.seq !== firstSeq + i) consecutive = false;
    streams += LETTER[line.stream];
    texts[i] = line.text;
    offsets[i] = Math.round(line.ms - (first?.ms ?? 0));
  }
  return {
    firstSeq,
    lastSeq: lines.at(-1)?.seq ?? 0,
    seqs: consecutive ? null : lines.map((line) => line.seq),
    streams,
    texts,
    at: first?.at ?? new Date(0).toISOString(),
    offsets,
  };
}

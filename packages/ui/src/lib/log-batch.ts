/** A job's output lines as the console keeps them, read from the compact batches of jobLogBatch. */
export interface LogLine {
  seq: number;
  stream: 'STDOUT' | 'STDERR' | 'SYSTEM';
  text: string;
}

export interface Batch {
  firstSeq: number;
  lastSeq: number;
  seqs: number[] | null;
  streams: string;
  texts: string[];
}

const STREAMS = { O: 'STDOUT', E: 'STDERR', S: 'SYSTEM' } as const;

/** The lines of a compact batch (jobLogBatch) after `last`: each text with its seq and stream. */
export function linesOf(batch: Batch, last: number): LogLine[] {
  const lines: LogLine[] = [];
  for (let i = 0; i < batch.texts.length; i++) {
    const seq = batch.seqs ? (batch.seqs[i] as number) : batch.firstSeq + i;
    if (seq <= last) continue;
    const letter = batch.streams[i] as keyof typeof STREAMS;
    lines.push({ seq, stream: STREAMS[letter] ?? 'STDOUT', text: batch.texts[i] as string });
  }
  return lines;
}

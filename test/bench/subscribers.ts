/**
 * A crowd of jobLog subscribers in a process of their own (so the client side is not what limits the server): opens
 * `count` graphql-ws connections, each subscribed to one job's log from the start, checks every line arrives once and
 * in order, and measures how late lines arrive (now − the line's `at`, on the same machine's clock). Prints one JSON
 * line when every subscription has completed.
 * Run by test/bench/queue-and-api.ts:
 * `node --import tsx test/bench/subscribers.ts <url> <token> <jobId> <count> [parse|compact|scan]`.
 *
 * `parse` (the default) is what a client of `jobLog` does: the graphql-ws client, every message parsed as JSON. `compact`
 * is what the console does: the same on `jobLogBatch` (each batch's fields once), its lines made from each batch. `scan` speaks
 * the same protocol with a bare `ws` socket and reads each message without parsing it: the seq of its first and last
 * line and the number of lines in it (every line is one `{"seq":` of the selection `seq stream text at`), which proves
 * the same thing — every line once, in order — at a fraction of the client's CPU. On a machine where the clients share
 * the server's cores, `scan` is what shows the server's own rate (see docs/benchmarks.md).
 */
import type { LogBatch } from '@slipway/server/graphql/log-batch';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, jobId, countText, mode = 'parse'] = process.argv.slice(2);
const count = Number(countText);
const query = `subscription { jobLog(jobId: "${jobId}") { seq stream text at } }`;
/** What the console asks for (its lines, in the compact form), with the times the bench measures lateness by. */
const compactQuery = `subscription { jobLogBatch(jobId: "${jobId}") { firstSeq lastSeq seqs streams texts at offsets } }`;
const wsUrl = `${String(url).replace('http', 'ws')}/graphql`;
const latencies: number[] = [];
const received = new Array<number>(count).fill(0);
let lastLineAt = 0;
let errors = 0;
let connected = 0;
// Tells the bench when every connection is up, so it starts the job only then.
// The CPU the process uses from then on is what receiving the log cost it.
let readyCpu = process.cpuUsage();
const onConnected = () => {
  if (++connected < count) return;
  readyCpu = process.cpuUsage();
  process.stdout.write('ready\n');
};

/** A graphql-ws client of the crowd (one connection, no retry). */
const crowdClient = () =>
  createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    on: { connected: onConnected },
  });

/**
 * A graphql-ws client subscribed to `subscription`, every message parsed; `linesOf` makes a message's lines (seq and
 * time, in ms) as its client would, and each is checked to come once and in order.
 */
function following<T>(index: number, subscription: string, linesOf: (data: T) => { seq: number; at: number }[]) {
  const client = crowdClient();
  return new Promise<void>((resolve) => {
    let expected = 1;
    client.subscribe<T>(
      { query: subscription },
      {
        next: (message) => {
          const now = Date.now();
          if (!message.data) return;
          for (const line of linesOf(message.data)) {
            if (line.seq !== expected++) errors++;
            // Every 10th line of every subscriber: enough samples for a p99 without slowing the client.
            if (line.seq % 10 === 0) latencies.push(now - line.at);
          }
          received[index] = expected - 1;
          lastLineAt = now;
        },
        error: () => {
          errors++;
          resolve();
        },
        complete: resolve,
      },
    );
  }).finally(() => client.dispose());
}

/** A client of `jobLog`: its lines as they come. */
const parsing = (index: number) =>
  following<{ jobLog: { seq: number; at: string }[] }>(index, query, (data) =>
    data.jobLog.map((line) => ({ seq: line.seq, at: Date.parse(line.at) })),
  );

const STREAMS = { O: 'STDOUT', E: 'STDERR', S: 'SYSTEM' } as const;

/** What the console does now: the compact form, each batch made into its lines (text, seq, stream). */
const compact = (index: number) =>
  following<{ jobLogBatch: LogBatch }>(index, compactQuery, ({ jobLogBatch: batch }) => {
    const start = Date.parse(batch.at);
    const lines: { seq: number; stream: string; text: string; at: number }[] = [];
    for (let i = 0; i < batch.texts.length; i++) {
      const seq = batch.seqs ? (batch.seqs[i] as number) : batch.firstSeq + i;
      const stream = STREAMS[batch.streams[i] as 'O'];
      lines.push({ seq, stream, text: batch.texts[i] as string, at: start + (batch.offsets[i] as number) });
    }
    return lines;
  });

const LINE = Buffer.from('{"seq":');
const AT = Buffer.from('"at":"');
const seqAt = (message: Buffer, at: number) =>
  Number.parseInt(message.toString('latin1', at + LINE.length, at + 20), 10);

/** The same protocol on a bare socket, each message checked by its first and last seq and its number of lines. */
function scanning(index: number): Promise<void> {
  const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
  return new Promise<void>((resolve) => {
    let expected = 1;
    const fail = () => {
      errors++;
      socket.close();
    };
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
    );
    socket.on('message', (message: Buffer) => {
      const now = Date.now();
      const head = message.toString('latin1', 0, Math.min(message.length, 60));
      if (head.includes('"type":"next"')) {
        let first = message.indexOf(LINE);
        if (first < 0) return;
        let lines = 0;
        let last = first;
        for (let at = first; at >= 0; at = message.indexOf(LINE, at + LINE.length)) {
          lines++;
          last = at;
        }
        first = seqAt(message, first);
        const lastSeq = seqAt(message, last);
        if (first !== expected || lastSeq !== first + lines - 1) errors++;
        expected = lastSeq + 1;
        received[index] = lastSeq;
        lastLineAt = now;
        // One latency sample per message: its last line.
        const atField = message.indexOf(AT, last);
        if (atField > 0)
          latencies.push(now - Date.parse(message.toString('latin1', atField + AT.length, atField + 30)));
      } else if (head.includes('"type":"connection_ack"')) {
        onConnected();
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
      } else if (head.includes('"type":"complete"')) socket.close();
      else if (head.includes('"type":"ping"')) socket.send('{"type":"pong"}');
      else fail();
    });
    socket.on('error', fail);
    socket.on('close', () => resolve());
  });
}

const subscribe = mode === 'scan' ? scanning : mode === 'compact' ? compact : parsing;
await Promise.all(Array.from({ length: count }, (_, index) => subscribe(index)));
const used = process.cpuUsage(readyCpu);
const cpuMs = (used.user + used.system) / 1000;
process.stdout.write(`${JSON.stringify({ latencies, received, lastLineAt, errors, cpuMs })}\n`);

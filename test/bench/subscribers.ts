/**
 * A crowd of jobLog subscribers in a process of their own (so the client side is not what limits the server): opens
 * `count` graphql-ws connections, each subscribed to one job's log from the start, checks every line arrives once and
 * in order, and measures how late lines arrive (now − the line's `at`, on the same machine's clock). Prints one JSON
 * line when every subscription has completed.
 * Run by test/bench/queue-and-api.ts:
 * `node --import tsx test/bench/subscribers.ts <url> <token> <jobId> <count> [parse|scan]`.
 *
 * `parse` (the default) is what the console does: the graphql-ws client, every message parsed as JSON. `scan` speaks
 * the same protocol with a bare `ws` socket and reads each message without parsing it: the seq of its first and last
 * line and the number of lines in it (every line is one `{"seq":` of the selection `seq stream text at`), which proves
 * the same thing — every line once, in order — at a fraction of the client's CPU. On a machine where the clients share
 * the server's cores, `scan` is what shows the server's own rate (see docs/benchmarks.md).
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, jobId, countText, mode = 'parse'] = process.argv.slice(2);
const count = Number(countText);
const query = `subscription { jobLog(jobId: "${jobId}") { seq stream text at } }`;
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

/** The graphql-ws client, every message parsed (what the console does). */
function parsing(index: number): Promise<void> {
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    on: { connected: onConnected },
  });
  return new Promise<void>((resolve) => {
    let expected = 1;
    client.subscribe<{ jobLog: { seq: number; at: string }[] }>(
      { query },
      {
        next: (message) => {
          const now = Date.now();
          for (const line of message.data?.jobLog ?? []) {
            if (line.seq !== expected++) errors++;
            // Every 10th line of every subscriber: enough samples for a p99 without slowing the client.
            if (line.seq % 10 === 0) latencies.push(now - Date.parse(line.at));
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

const subscribe = mode === 'scan' ? scanning : parsing;
await Promise.all(Array.from({ length: count }, (_, index) => subscribe(index)));
const used = process.cpuUsage(readyCpu);
const cpuMs = (used.user + used.system) / 1000;
process.stdout.write(`${JSON.stringify({ latencies, received, lastLineAt, errors, cpuMs })}\n`);

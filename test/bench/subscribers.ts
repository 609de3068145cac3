/**
 * A crowd of jobLog subscribers in a process of their own (so the client side is not what limits the server): opens
 * `count` graphql-ws connections, each subscribed to one job's log from the start, checks every line arrives once and
 * in order, and measures how late lines arrive (now − the line's `at`, on the same machine's clock). Prints one JSON
 * line when every subscription has completed.
 * Run by test/bench/queue-and-api.ts: `node --import tsx test/bench/subscribers.ts <url> <token> <jobId> <count>`.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, jobId, countText] = process.argv.slice(2);
const count = Number(countText);
const latencies: number[] = [];
const received = new Array<number>(count).fill(0);
let lastLineAt = 0;
let errors = 0;

let connected = 0;
const clients = Array.from({ length: count }, () =>
  createClient({
    url: `${String(url).replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    // Tells the bench when every connection is up, so it starts the job only then.
    on: { connected: () => ++connected === count && process.stdout.write('ready\n') },
  }),
);
await Promise.all(
  clients.map(
    (client, index) =>
      new Promise<void>((resolve) => {
        let expected = 1;
        client.subscribe<{ jobLog: { seq: number; at: string }[] }>(
          { query: `subscription { jobLog(jobId: "${jobId}") { seq stream text at } }` },
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
      }),
  ),
);
await Promise.all(clients.map((c) => c.dispose()));
process.stdout.write(`${JSON.stringify({ latencies, received, lastLineAt, errors })}\n`);

/**
 * Benchmarks of the queue, live output and the API, each against the design users would otherwise get:
 *   - job pickup: committed enqueue → executor starts the job (LISTEN/NOTIFY) vs a 1-second polling loop
 *   - log streaming: lines/s from a job to 1 and to 200 graphql-ws subscribers, with no loss, and p99 line latency
 *   - API: `tickets` at 50 concurrent clients (autocannon): throughput, latency, the server's memory
 * Run: `pnpm bench` (or `node --import tsx test/bench/queue-and-api.ts`). Prints a Markdown table.
 */
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from '@slipway/executor';
import { LogSink } from '@slipway/executor/log-sink';
import {
  claimJob,
  connect,
  EMBEDDED_APP_ROLE,
  enqueueJob,
  finishJob,
  freePort,
  jobs,
  migrate,
  projects,
  startEmbeddedPostgres,
  tickets,
  users,
} from '@slipway/schema';
import autocannon from 'autocannon';
import { eq, sql } from 'drizzle-orm';
import { execa } from 'execa';
import { createClient } from 'graphql-ws';
import { pino } from 'pino';
import WebSocket from 'ws';
import { repoRoot } from '../support/slipway.ts';

const rows: string[][] = [];
const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-'));
await chmod(dir, 0o755);
const postgres = await startEmbeddedPostgres(join(dir, 'pg'));
await migrate(postgres.url, { appRole: EMBEDDED_APP_ROLE });
const database = connect(postgres.appUrl, { max: 10 });
const { db } = database;
const [project] = await db
  .insert(projects)
  .values({ name: 'bench', sourceType: 'SVN', sourceUrl: 'file:///bench', stagingPath: '/srv/bench', ready: true })
  .returning();
const projectId = project?.id as number;

// --- job pickup ----------------------------------------------------------------------------------------------
async function pickupLatencies(count: number, startNext: () => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const job = await enqueueJob(db, { projectId, kind: 'STAGE', pool: 'bench' });
    for (;;) {
      const [row] = await db
        .select({ latency: sql<number>`extract(epoch from ${jobs.startedAt} - ${jobs.createdAt}) * 1000` })
        .from(jobs)
        .where(eq(jobs.id, job.id));
      if (row?.latency != null) {
        latencies.push(Number(row.latency));
        break;
      }
      await sleep(1);
    }
    await startNext();
  }
  return latencies;
}

const worker = new Worker(
  database,
  {
    databaseUrl: postgres.appUrl,
    dataDir: join(dir, 'data'),
    pool: 'bench',
    concurrency: 4,
    deliveryConcurrency: 2,
    leaseSeconds: 30,
    pollSeconds: 60,
    publicUrl: undefined,
    logLevel: 'silent',
  },
  pino({ level: 'silent' }),
);
await worker.start();
const notified = await pickupLatencies(200, async () => {
  while (worker.runningJobs > 0) await sleep(1);
});
await worker.stop();

// The classic design: a loop that looks for work once a second (and takes all it finds).
let polling = true;
const poller = (async () => {
  while (polling) {
    for (let job = await claimJob(db, 'poller', 'bench', 30); job; job = await claimJob(db, 'poller', 'bench', 30)) {
      await finishJob(db, job.id, 'poller', { state: 'SUCCEEDED' });
    }
    await sleep(1000);
  }
})();
// Jobs arrive at random moments relative to the poll, as they do in life.
const polled = await pickupLatencies(20, () => sleep(Math.random() * 1000));
polling = false;
await poller;
rows.push([
  'job pickup, commit → start (p50 / p99)',
  `${ms(percentile(notified, 50))} / ${ms(percentile(notified, 99))} (n=200)`,
  `1 s poll: ${ms(percentile(polled, 50))} / ${ms(percentile(polled, 99))} (n=20)`,
  `${(percentile(polled, 50) / percentile(notified, 50)).toFixed(0)}× faster at p50`,
]);

// --- a server process for the API and subscriptions -----------------------------------------------------------
const port = await freePort();
const server = execa('node', ['--import', 'tsx', 'packages/server/src/main.ts'], {
  cwd: repoRoot,
  env: {
    DATABASE_URL: postgres.appUrl,
    PORT: String(port),
    SLIPWAY_EXECUTOR: 'off',
    SLIPWAY_ADMIN_PASSWORD: 'bench password',
    SLIPWAY_LOG_LEVEL: 'warn',
  },
  reject: false,
});
const url = `http://127.0.0.1:${port}`;
for (;;) {
  const up = await fetch(`${url}/healthz`).then(
    (r) => r.ok,
    () => false,
  );
  if (up) break;
  await sleep(50);
}
const login = (await (
  await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation { login(login: "admin", password: "bench password") { token } }' }),
  })
).json()) as { data: { login: { token: string } } };
const token = login.data.login.token;

// --- log streaming --------------------------------------------------------------------------------------------
/** `pace`: lines per second the job prints (0: as fast as the writer can, to measure throughput). */
async function streamLog(subscribers: number, lines: number, pace = 0) {
  const [job] = await db.insert(jobs).values({ projectId, kind: 'DEPLOY', state: 'RUNNING', pool: 'none' }).returning();
  const jobId = job?.id as number;
  const latencies: number[] = [];
  let complete = 0;
  const clients = Array.from({ length: subscribers }, () =>
    createClient({
      url: `${url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
    }),
  );
  const received = clients.map(() => 0);
  const done = Promise.all(
    clients.map(
      (client, index) =>
        new Promise<void>((resolve, reject) => {
          let expected = 1;
          client.subscribe<{ jobLog: { seq: number; at: string }[] }>(
            { query: `subscription { jobLog(jobId: "${jobId}") { seq at } }` },
            {
              next: (message) => {
                const now = Date.now();
                for (const line of message.data?.jobLog ?? []) {
                  if (line.seq !== expected++) reject(new Error(`gap or duplicate at ${line.seq}`));
                  if (index === 0 && line.seq % 10 === 0) latencies.push(now - Date.parse(line.at));
                }
                received[index] = expected - 1;
              },
              error: reject,
              complete: () => {
                complete++;
                resolve();
              },
            },
          );
        }),
    ),
  );
  await sleep(500);
  const started = performance.now();
  const sink = new LogSink(db, jobId, 0);
  for (let i = 1; i <= lines; i++) {
    sink.line('STDOUT', `>f+++++++++ www/generated/file-${i}.html`);
    if (pace > 0 && i % (pace / 100) === 0) await sleep(10);
    else if (i % 2000 === 0) await sleep(0);
  }
  await sink.flush();
  await db.update(jobs).set({ state: 'SUCCEEDED', finishedAt: new Date() }).where(eq(jobs.id, jobId));
  await finishNotify(jobId);
  await done;
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.dispose()));
  const lost = received.filter((n) => n !== lines).length;
  return { perSecond: lines / seconds, p99: percentile(latencies, 99), lost, complete };
}
async function finishNotify(jobId: number) {
  await database.sql`select pg_notify('slipway_job_updated', ${String(jobId)})`;
}
for (const subscribers of [1, 200]) {
  const burst = await streamLog(subscribers, subscribers === 1 ? 100_000 : 10_000);
  const paced = await streamLog(subscribers, 10_000, 2_000);
  rows.push([
    `log streaming, ${subscribers} subscriber${subscribers > 1 ? 's' : ''}`,
    `${Math.round(burst.perSecond).toLocaleString('en')} lines/s to each (burst); p99 line latency ${ms(paced.p99)} at 2,000 lines/s`,
    `lost lines: ${burst.lost + paced.lost}`,
    burst.lost + paced.lost === 0 ? 'no gap, no duplicate' : 'LOSS',
  ]);
}

// --- API ------------------------------------------------------------------------------------------------------
const [author] = await db.insert(users).values({ login: 'bench-author', name: 'Bench', passwordHash: 'x' }).returning();
await db.insert(tickets).values(
  Array.from({ length: 500 }, (_, i) => ({
    projectId,
    kind: 'RELEASE' as const,
    state: 'DEPLOYED' as const,
    reason: `bench ticket ${i}`,
    paths: [`www/p${i}.html`],
    authorId: author?.id as number,
  })),
);
let peakRss = 0;
const sampler = setInterval(async () => {
  const status = await readFile(`/proc/${server.pid}/status`, 'utf8').catch(() => '');
  peakRss = Math.max(peakRss, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
}, 200);
const load = await autocannon({
  url: `${url}/graphql`,
  method: 'POST',
  connections: 50,
  duration: 10,
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  body: JSON.stringify({
    query: `{ tickets(projectId: "${projectId}", first: 20) { edges { node { id state reason author { login } } } pageInfo { endCursor } } }`,
  }),
});
clearInterval(sampler);
rows.push([
  '`tickets` (20 per page) at 50 concurrent clients, 10 s',
  `${Math.round(load.requests.average).toLocaleString('en')} req/s, p50 ${load.latency.p50} ms, p99 ${load.latency.p99} ms, errors ${load.errors + load.non2xx}`,
  `server RSS under load: ${(peakRss / 1024).toFixed(0)} MiB`,
  '',
]);

server.kill('SIGTERM');
await server;
await database.sql.end();
await postgres.stop();
await rm(dir, { recursive: true, force: true });

console.log('| measure | Slipway | comparison | ratio / note |');
console.log('| --- | --- | --- | --- |');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);

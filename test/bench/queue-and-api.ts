/**
 * Benchmarks of the queue, live output and the API, each against the design users would otherwise get:
 *   - job pickup: committed enqueue → executor starts the job (LISTEN/NOTIFY) vs a 1-second polling loop
 *   - log writing: lines/s one job's LogSink stores
 *   - log streaming: a crowd of graphql-ws subscribers (in processes of their own) on one job: burst throughput to
 *     each, p99 line latency at a steady rate, nothing lost or duplicated
 *   - API: `tickets` at 50 concurrent clients (autocannon) beside `{ __typename }` (the framework's floor), the
 *     server's memory idle and at its peak, its start
 * Every row carries the load average. Run: `pnpm bench` (or `node --import tsx test/bench/queue-and-api.ts`);
 * `BENCH_ONLY=crowd,api` runs only those sections (pickup, writing, crowd, api).
 */

import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
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
  firstEnvironment,
  freePort,
  jobs,
  migrate,
  projects,
  startEmbeddedPostgres,
  tickets,
  users,
} from '@slipway/schema';
import { createApiToken, createSession } from '@slipway/server/auth/tokens';
import autocannon from 'autocannon';
import { eq, sql } from 'drizzle-orm';
import { execa } from 'execa';
import { pino } from 'pino';
import { BUNDLE_ENV, repoRoot, SERVER_BUNDLE } from '../support/slipway.ts';

const rows: string[][] = [];
const only = process.env.BENCH_ONLY?.split(',');
const runs = (section: 'pickup' | 'writing' | 'crowd' | 'api') => !only || only.includes(section);
/** Progress on stderr, so a long run shows where it is. */
const progress = (what: string) => process.stderr.write(`[${new Date().toISOString()}] ${what}\n`);
const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;
const load = () => loadavg()[0]?.toFixed(2);
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
const environmentId = (await firstEnvironment(db, projectId)).id;

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

if (runs('pickup')) {
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
}

progress('log writing');
// --- log writing (the executor's LogSink, as fast as lines come) -----------------------------------------------
async function writeLines(count: number): Promise<number> {
  const [job] = await db.insert(jobs).values({ projectId, kind: 'DEPLOY', state: 'RUNNING', pool: 'none' }).returning();
  const sink = new LogSink(db, job?.id as number, 0);
  const started = performance.now();
  for (let i = 1; i <= count; i++) {
    sink.line('STDOUT', `>f+++++++++ www/generated/file-${i}.html`);
    if (i % 5000 === 0) await sleep(0);
  }
  await sink.flush();
  return count / ((performance.now() - started) / 1000);
}
if (runs('writing')) {
  await writeLines(20_000);
  const writing = [await writeLines(200_000), await writeLines(200_000), await writeLines(200_000)];
  rows.push([
    'executor log writing, one job (LogSink, 200,000 lines)',
    `${Math.round(percentile(writing, 50)).toLocaleString('en')} lines/s (median of 3)`,
    'goal: ≥ 50,000 lines/s',
    `load ${load()}`,
  ]);
}

progress('server start');
// --- a server process for the API and subscriptions, started as `pnpm start` starts it -------------------------
const port = await freePort();
const startedAt = performance.now();
// `SERVER_NODE_ARGS=--cpu-prof` and the like go before the bundle.
const server = execa('node', [...(process.env.SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...SERVER_BUNDLE], {
  cwd: repoRoot,
  env: {
    DATABASE_URL: postgres.appUrl,
    SLIPWAY_MIGRATION_DATABASE_URL: postgres.url,
    PORT: String(port),
    SLIPWAY_EXECUTOR: 'off',
    SLIPWAY_ADMIN_PASSWORD: 'bench password',
    SLIPWAY_LOG_LEVEL: 'warn',
    ...BUNDLE_ENV,
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
  if (server.exitCode !== null) throw new Error(`the server exited: ${(await server).stderr}`);
  await sleep(20);
}
const startMs = performance.now() - startedAt;
/** CPU seconds (user + system) the server has used so far. */
const serverCpu = async () => {
  const fields = (await readFile(`/proc/${server.pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
/** CPU seconds the embedded PostgreSQL (its postmaster and every backend) has used so far. */
const postgresCpu = async () => {
  const postmaster = Number((await readFile(join(dir, 'pg', 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
  let total = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.split(') ')[1]?.split(' ') ?? [];
    if (Number(pid) === postmaster || Number(fields[1]) === postmaster)
      total += (Number(fields[11]) + Number(fields[12])) / 100;
  }
  return total;
};
const rss = async () => {
  const status = await readFile(`/proc/${server.pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
};
await sleep(3000);
const idleRss = await rss();
let peakRss = idleRss;
/** The server's peak RSS since the last call (each server row names its own). */
let sectionPeak = idleRss;
const serverLoad = () => {
  const note = `load ${load()}, server RSS peak ${sectionPeak.toFixed(0)} MiB`;
  sectionPeak = 0;
  return note;
};
const sampler = setInterval(async () => {
  const now = await rss();
  peakRss = Math.max(peakRss, now);
  sectionPeak = Math.max(sectionPeak, now);
}, 100);
const login = (await (
  await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation { login(login: "admin", password: "bench password") { token } }' }),
  })
).json()) as { data: { login: { token: string } } };
const token = login.data.login.token;
// A crowd is many people: one viewer per client process (each user may hold 100 subscriptions per replica).
const viewers: string[] = [];
for (let i = 0; i < 4; i++) {
  const [viewer] = await db
    .insert(users)
    .values({ login: `viewer-${i}`, name: `Viewer ${i}`, passwordHash: 'x', isAdmin: true })
    .returning();
  viewers.push((await createSession(db, viewer?.id as number)).token);
}

// --- log streaming to a crowd, the subscribers in processes of their own ----------------------------------------
interface CrowdResult {
  latencies: number[];
  received: number[];
  lastLineAt: number;
  errors: number;
  cpuMs: number;
}
/**
 * `pace`: lines per second the job prints (0: as fast as the writer can). `mode`: how the clients read each message
 * (`compact` as the console does, `parse` a jobLog client, `scan` without parsing; see subscribers.ts).
 */
async function streamLog(
  subscribers: number,
  lines: number,
  pace: number,
  mode: 'parse' | 'compact' | 'scan' = 'compact',
) {
  const [job] = await db.insert(jobs).values({ projectId, kind: 'DEPLOY', state: 'RUNNING', pool: 'none' }).returning();
  const jobId = job?.id as number;
  const processes = Math.min(4, subscribers);
  const crowd = Array.from({ length: processes }, (_, i) => {
    const mine = Math.floor(subscribers / processes) + (i < subscribers % processes ? 1 : 0);
    return execa(
      'node',
      ['--import', 'tsx', 'test/bench/subscribers.ts', url, viewers[i] as string, String(jobId), String(mine), mode],
      {
        cwd: repoRoot,
        buffer: true,
      },
    );
  });
  await Promise.all(
    crowd.map(
      (child) =>
        new Promise<void>((resolve) => {
          child.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
        }),
    ),
  );
  await sleep(300);
  const cpuBefore = await serverCpu();
  const started = Date.now();
  const sink = new LogSink(db, jobId, 0);
  const perTick = pace / 100;
  for (let i = 1; i <= lines; i++) {
    sink.line('STDOUT', `>f+++++++++ www/generated/file-${i}.html`);
    // A paced job prints `pace` lines a second, in ticks of 10 ms.
    if (pace > 0 && i % perTick === 0) await sleep(started + (i / perTick) * 10 - Date.now());
    else if (pace === 0 && i % 2000 === 0) await sleep(0);
  }
  await sink.flush();
  await db.update(jobs).set({ state: 'SUCCEEDED', finishedAt: new Date() }).where(eq(jobs.id, jobId));
  await database.sql`select pg_notify('slipway_job_updated', ${String(jobId)})`;
  const results = (await Promise.all(crowd)).map(
    (r) => JSON.parse(String(r.stdout).split('\n').at(-1) ?? '{}') as CrowdResult,
  );
  const latencies = results.flatMap((r) => r.latencies);
  const lost = results.flatMap((r) => r.received).filter((n) => n !== lines).length;
  const errors = results.reduce((n, r) => n + r.errors, 0);
  const last = Math.max(...results.map((r) => r.lastLineAt));
  // Where the cores went: the server's CPU while the lines went out (to the job's end) and the clients' own.
  const cpu = `CPU: server ${((await serverCpu()) - cpuBefore).toFixed(2)} s, clients ${(results.reduce((n, r) => n + r.cpuMs, 0) / 1000).toFixed(2)} s`;
  return { perSecond: lines / ((last - started) / 1000), p99: percentile(latencies, 99), lost, errors, cpu };
}
if (runs('crowd')) {
  /** Three bursts (the noisy row): the median run's figures, and every run's rate. */
  const burstRow = async (mode: 'parse' | 'compact' | 'scan', title: string) => {
    progress(title);
    const bursts = [];
    for (let run = 0; run < 3; run++) bursts.push(await streamLog(200, 20_000, 0, mode));
    const sorted = [...bursts].sort((a, b) => a.perSecond - b.perSecond);
    const burst = sorted[1] as (typeof bursts)[number];
    rows.push([
      `${title} (median of 3)`,
      `${Math.round(burst.perSecond).toLocaleString('en')} lines/s to each (until the last subscriber has the last line); runs: ${bursts.map((b) => Math.round(b.perSecond).toLocaleString('en')).join(', ')}`,
      `lost or duplicated: ${bursts.reduce((n, b) => n + b.lost + b.errors, 0)}; goal ≥ 20,000 lines/s; ${burst.cpu}`,
      serverLoad(),
    ]);
  };
  await burstRow(
    'compact',
    '20,000-line burst to 200 subscribers (4 client processes, the console’s compact form, parsed as the console does)',
  );
  await burstRow('parse', '20,000-line burst to 200 subscribers (4 client processes, `jobLog` lines, parsed)');
  await burstRow(
    'scan',
    '20,000-line burst to 200 subscribers (4 client processes, scanning: the rate the server sends at)',
  );
  const latencyRow = async (title: string, subscribers: number, lines: number, pace: number) => {
    progress(title);
    const run = await streamLog(subscribers, lines, pace);
    rows.push([
      title,
      `p99 line latency ${ms(run.p99)}`,
      `lost or duplicated: ${run.lost + run.errors}; goal p99 ≤ 100 ms`,
      serverLoad(),
    ]);
  };
  await latencyRow('200 subscribers, job printing 2,000 lines/s for 10 s', 200, 20_000, 2_000);
  await latencyRow('1 subscriber, job printing 100 lines/s for 10 s', 1, 1_000, 100);
}

// --- API ------------------------------------------------------------------------------------------------------
if (runs('api')) {
  const [author] = await db
    .insert(users)
    .values({ login: 'bench-author', name: 'Bench', passwordHash: 'x' })
    .returning();
  await db.insert(tickets).values(
    Array.from({ length: 500 }, (_, i) => ({
      projectId,
      environmentId,
      kind: 'RELEASE' as const,
      state: 'DEPLOYED' as const,
      reason: `bench ticket ${i}`,
      paths: [`www/p${i}.html`],
      authorId: author?.id as number,
    })),
  );
  // An internal tool's way in: an API token of the same admin (the console's is the session signed in above).
  const [admin] = await db.select().from(users).where(eq(users.login, 'admin'));
  const apiToken = (await createApiToken(db, admin?.id as number, 'bench tool')).token;
  async function hammer(query: string, bearer = token, duration = 10) {
    const cpuBefore = await postgresCpu();
    const serverBefore = await serverCpu();
    const result = await autocannon({
      url: `${url}/graphql`,
      method: 'POST',
      connections: 50,
      duration,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ query }),
    });
    const serverMs = ((await serverCpu()) - serverBefore) * 1000;
    return {
      ...result,
      postgresCpu: ((await postgresCpu()) - cpuBefore) / duration,
      /** The server's CPU time per answered request, in µs: the cost of a request whatever else the machine ran. */
      serverUs: (serverMs * 1000) / Math.max(1, result.requests.total),
    };
  }
  type Hammered = Awaited<ReturnType<typeof hammer>>;
  const ticketsQuery = `{ tickets(projectId: "${projectId}", first: 20) { edges { node { id state reason author { login } } } pageInfo { endCursor } } }`;
  const describe = (r: Hammered) =>
    `${Math.round(r.requests.average).toLocaleString('en')} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, errors ${r.errors + r.non2xx}, server CPU ${Math.round(r.serverUs)} µs a request, PostgreSQL ${(r.postgresCpu * 100).toFixed(0)}% of a core`;
  /** The run whose req/s is the median of three. */
  const median = (runs: Hammered[]) => [...runs].sort((a, b) => a.requests.average - b.requests.average)[1] as Hammered;
  // Three rounds, each the floor, the session's tickets and the token's tickets back to back: the ratios of a round
  // are taken under the same conditions, and the median round of each ratio is reported.
  // A warm-up first, not measured: each query's first requests compile it (graphql-jit) and warm V8, and a round
  // that paid for that would compare a cold path with a warm floor.
  progress('API warm-up');
  for (const query of ['{ __typename }', ticketsQuery]) await hammer(query, token, 3);
  const rounds: { floor: Hammered; session: Hammered; apiToken: Hammered }[] = [];
  for (let round = 1; round <= 3; round++) {
    progress(`API round ${round} of 3`);
    rounds.push({
      floor: await hammer('{ __typename }'),
      session: await hammer(ticketsQuery),
      apiToken: await hammer(ticketsQuery, apiToken),
    });
  }
  const ratios = (pick: (r: (typeof rounds)[number]) => number) =>
    rounds
      .map(pick)
      .map((x) => x.toFixed(2))
      .join(', ');
  const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[1] as number;
  const apiLoad = serverLoad();
  rows.push([
    '`{ __typename }` at 50 concurrent clients, 10 s (the floor; median of 3)',
    describe(median(rounds.map((r) => r.floor))),
    '',
    apiLoad,
  ]);
  rows.push([
    '`tickets` (20 per page, author and state) at 50 concurrent clients, 10 s, session (median of 3)',
    describe(median(rounds.map((r) => r.session))),
    `${medianOf(rounds.map((r) => r.session.requests.average / r.floor.requests.average)).toFixed(2)}× the floor's req/s (rounds: ${ratios((r) => r.session.requests.average / r.floor.requests.average)}; goal ≥ 0.7× in every run), p99 ${medianOf(rounds.map((r) => r.session.latency.p99 / r.floor.latency.p99)).toFixed(2)}× (rounds: ${ratios((r) => r.session.latency.p99 / r.floor.latency.p99)}; goal ≤ 1.5×)`,
    apiLoad,
  ]);
  rows.push([
    'the same `tickets` load with an API token (median of 3)',
    describe(median(rounds.map((r) => r.apiToken))),
    `${medianOf(rounds.map((r) => r.apiToken.requests.average / r.session.requests.average)).toFixed(2)}× the session's req/s (rounds: ${ratios((r) => r.apiToken.requests.average / r.session.requests.average)}; goal ≥ 0.9×)`,
    apiLoad,
  ]);
}
clearInterval(sampler);
rows.push([
  'server memory (RSS)',
  `idle ${idleRss.toFixed(0)} MiB, peak under every benchmark above ${peakRss.toFixed(0)} MiB`,
  'goal: idle ≤ 100 MiB, under load ≤ 200 MiB',
  '',
]);
rows.push(['server start (DATABASE_URL given) → first `/healthz` 200', `${startMs.toFixed(0)} ms`, '', '']);

server.kill('SIGTERM');
await server;
await database.sql.end();
await postgres.stop();
await rm(dir, { recursive: true, force: true });

console.log('| measure | Slipway | comparison | ratio / note |');
console.log('| --- | --- | --- | --- |');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);

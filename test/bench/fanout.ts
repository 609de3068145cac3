/**
 * The fleet path, on a rig that looks like a fleet: a 10,000-file tree, and every ssh target on a host address of its
 * own (127.0.0.2, 127.0.0.3, …, served by several sshd, MaxStartups/MaxSessions raised, LogLevel VERBOSE), so no
 * connection can be shared between two targets. Measured in the same run:
 *   - the floor: a bare `ssh host true` to every target, ten at a time (on one machine each handshake costs both
 *     ends' CPU on the same cores, so this is what the machine allows);
 *   - plain `rsync -a --delete` of the same tree to the same hosts (their own directories), ten at a time (for a first
 *     deploy, one just before and one just after each run: the disk of a machine holding the whole fleet swings);
 *   - Slipway's deploy and rollback jobs (startedAt → finishedAt): first deploy (full copy), one changed file in place
 *     and atomic, an atomic rollback, one target; ssh connections per target per job (counted in sshd's log) and bytes
 *     sent per target;
 *   - a verification of every target (VERIFY job) after one byte changed on one target, one file deleted on another
 *     and one added on a third, against plain `rsync -a --dry-run --checksum --delete` of the same tree to the same
 *     targets, ten at a time;
 *   - a one-file release promoted from a QA environment (one local target) to a production of every host (PROMOTE
 *     job), and a rollback of QA alone (no connection to production's hosts, counted in sshd's log).
 * Medians of RUNS. Run: `pnpm bench` (its second part) or `node --import tsx test/bench/fanout.ts [targets]`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@slipway/executor';
import { connect, EMBEDDED_APP_ROLE, jobs, migrate, startEmbeddedPostgres, users } from '@slipway/schema';
import { hashPassword } from '@slipway/server/auth/passwords';
import { createSession } from '@slipway/server/auth/tokens';
import { createSlipwayServer } from '@slipway/server/http';
import { eq, sql } from 'drizzle-orm';
import { execa } from 'execa';
import { pino } from 'pino';
import { startSshFleet } from '../support/sshd.ts';
import { SvnRepo } from '../support/svn.ts';

const FILES = 10_000;
const TARGETS = Number(process.argv[2] ?? 50);
/**
 * `FANOUT_ONLY=atomic`: the floor, the first deploys and the atomic deploy rows only (a shorter run); `FANOUT_ONLY=first`:
 * the floor and the first deploys.
 */
const ONLY_FIRST = process.env.FANOUT_ONLY === 'first';
const ONLY_ATOMIC = process.env.FANOUT_ONLY === 'atomic' || ONLY_FIRST;
const RUNS = 3;
/** How many first deploys of each mode (`FIRST_RUNS=1` for a shorter run). */
const FIRST_RUNS = Number(process.env.FIRST_RUNS ?? RUNS);
const PARALLEL = 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const seconds = (x: number) => `${(x / 1000).toFixed(2)} s`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const load = () => loadavg()[0]?.toFixed(2);
/** Data the kernel has still to write (a fleet of small files is gigabytes of it). */
const dirty = async () => /Dirty:\s+(\d+ kB)/.exec(await readFile('/proc/meminfo', 'utf8'))?.[1] ?? '?';
/** Writes and discards the block devices completed so far, and the requests in flight (/proc/diskstats). */
async function diskActivity(): Promise<{ done: number; inFlight: number }> {
  let done = 0;
  let inFlight = 0;
  for (const line of (await readFile('/proc/diskstats', 'utf8')).split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 15 || /^(loop|ram|zram)/.test(f[2] ?? '')) continue;
    done += Number(f[7]) + Number(f[14] ?? 0);
    inFlight += Number(f[11]);
  }
  return { done, inFlight };
}
/**
 * Waits (up to two minutes) until everything is written and the disk has been idle for a second: a mass deletion
 * leaves the disk busy long after `rm` and `sync` return (block freeing, discards), and the copy timed next would pay
 * for it. Answers how long it waited.
 */
async function settleDisk(): Promise<number> {
  const started = performance.now();
  await execa('sync');
  let last = await diskActivity();
  while (performance.now() - started < 120_000) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await diskActivity();
    if (now.done === last.done && now.inFlight === 0) break;
    last = now;
  }
  return performance.now() - started;
}

const dir = await mkdtemp(join(tmpdir(), 'slipway-fanout-'));
await chmod(dir, 0o755);
const postgres = await startEmbeddedPostgres(join(dir, 'pg'));
await migrate(postgres.url, { appRole: EMBEDDED_APP_ROLE });
const database = connect(postgres.appUrl, { max: 10 });
const server = await createSlipwayServer({ database, logger: pino({ level: 'silent' }) });
// The client waits on the targets between requests: a kept-alive connection must outlive those pauses.
server.keepAliveTimeout = 120_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const worker = new Worker(
  database,
  {
    databaseUrl: postgres.appUrl,
    dataDir: join(dir, 'data'),
    pool: 'default',
    concurrency: 2,
    deliveryConcurrency: 2,
    leaseSeconds: 60,
    pollSeconds: 1,
    publicUrl: undefined,
    logLevel: 'silent',
  },
  pino({ level: 'silent' }),
);
await worker.start();
const [admin] = await database.db
  .insert(users)
  .values({ login: 'admin', name: 'Admin', passwordHash: await hashPassword('x'), isAdmin: true })
  .returning();
const adminId = admin?.id as number;
const token = (await createSession(database.db, adminId)).token;

async function gql(query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: a benchmark reads the answers field by field
  const body = (await response.json()) as { data?: Record<string, any>; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  // biome-ignore lint/suspicious/noExplicitAny: as above
  return body.data as Record<string, any>;
}
async function until<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const tree: Record<string, string> = { 'www/changing.txt': 'v0\n' };
for (let i = 0; i < FILES; i++)
  tree[`www/f${Math.floor(i / 500)}/p${i}.html`] = `<p>${i} ${randomBytes(64).toString('hex')}</p>\n`;
await mkdir(join(dir, 'repo'));
const svn = await SvnRepo.create(join(dir, 'repo'), tree);
const fleet = await startSshFleet(dir, TARGETS);
const sshOptions = { sshKeyPath: fleet.keyPath, knownHostsPath: fleet.knownHostsPath };
const sshCommand = `ssh -o BatchMode=yes -o UserKnownHostsFile=${fleet.knownHostsPath} -i ${fleet.keyPath} -p ${fleet.port}`;

async function project(name: string, count: number, mode: 'IN_PLACE' | 'ATOMIC') {
  const created = await gql('mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }', {
    i: {
      name,
      sourceType: 'SVN',
      sourceUrl: svn.url,
      stagingPath: join(dir, `staging-${name}`),
      deployMode: mode,
      parallelism: PARALLEL,
      // Verifications are measured on their own below; none is scheduled in the middle of a deploy's figures.
      verifyIntervalMinutes: 0,
      // One person plays every role here.
      allowAuthorPassTest: true,
      ...sshOptions,
    },
  });
  const id = created.createProject.id as string;
  for (let i = 0; i < count; i++) {
    await gql('mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }', {
      p: id,
      t: { name: `t${i}`, host: fleet.addresses[i], port: fleet.port, user: fleet.user, path: targetDir(name, i) },
    });
  }
  await gql('mutation($p: ID!, $u: ID!) { setMember(projectId: $p, userId: $u, role: LEAD) { id } }', {
    p: id,
    u: adminId,
  });
  await gql('mutation($p: ID!) { updateProject(id: $p, input: { allowSelfApproval: true }) { id } }', { p: id });
  await until(
    () => gql('query($p: ID!) { project(id: $p) { ready initError } }', { p: id }),
    (d) => d.project.ready || d.project.initError,
  );
  return id;
}

const targetDir = (name: string, i: number) => join(dir, 'targets', name, `t${i}`);

interface JobFigures {
  ms: number;
  /** The job log's own timing line (its steps). */
  timing: string;
  /** Connections each target's host accepted during the job. */
  connections: number[];
  bytesSent: number[];
}

async function measured(action: () => Promise<string>): Promise<JobFigures> {
  const before = await fleet.connections();
  const ticketId = await action();
  const done = await until(
    () =>
      gql('query($id: ID!) { ticket(id: $id) { state jobs { id kind } deployResults { outcome bytesSent } } }', {
        id: ticketId,
      }),
    (d) => d.ticket.state === 'DEPLOYED' || d.ticket.state === 'DEPLOY_FAILED',
  );
  if (done.ticket.state !== 'DEPLOYED') throw new Error(`deploy failed: ${JSON.stringify(done)}`);
  const jobId = Number(done.ticket.jobs.at(-1).id);
  const [job] = await database.db.select().from(jobs).where(eq(jobs.id, jobId));
  const after = await fleet.connections();
  const [timing] = await database.db.execute<{ text: string }>(
    sql`select text from job_log_lines where job_id = ${jobId} and text like 'timing:%' order by seq desc limit 1`,
  );
  return {
    ms: (job?.finishedAt?.getTime() ?? 0) - (job?.startedAt?.getTime() ?? 0),
    timing: timing?.text ?? '(no timing line)',
    connections: [...after].map(([address, n]) => n - (before.get(address) ?? 0)).filter((n) => n > 0),
    bytesSent: done.ticket.deployResults.map((r: { bytesSent: number }) => r.bytesSent),
  };
}

/** A ticket changing www/changing.txt, taken through to the deploy; answers its id once the deploy is asked for. */
async function release(projectId: string, content: string): Promise<string> {
  await svn.commit('change', { 'www/changing.txt': content });
  const t = await gql('mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }', {
    i: { projectId, reason: 'bench', paths: ['www/changing.txt'] },
  });
  const id = t.submitTicket.id;
  await until(
    () => gql('query($id: ID!) { ticket(id: $id) { state } }', { id }),
    (d) => d.ticket.state === 'AWAITING_TEST',
  );
  await gql('mutation($id: ID!) { passTest(id: $id) { id } }', { id });
  await gql('mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
  await gql('mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
  return id;
}

/** `count` tickets, each adding a file of its own, taken through to approval (nothing deployed): their ids. */
async function approvedAhead(projectId: string, count: number): Promise<string[]> {
  const paths = Array.from({ length: count }, (_, i) => `www/ahead/${randomBytes(6).toString('hex')}-${i}.txt`);
  await svn.commit('ahead', Object.fromEntries(paths.map((p) => [p, `${p}\n`])));
  const ids: string[] = [];
  for (const path of paths)
    ids.push(
      (
        await gql('mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }', {
          i: { projectId, reason: 'bench', paths: [path] },
        })
      ).submitTicket.id,
    );
  for (const id of ids) {
    await until(
      () => gql('query($id: ID!) { ticket(id: $id) { state } }', { id }),
      (d) => d.ticket.state === 'AWAITING_TEST',
    );
    await gql('mutation($id: ID!) { passTest(id: $id) { id } }', { id });
    await gql('mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
  }
  return ids;
}

async function deploy(ticketId: string): Promise<string> {
  await gql('mutation($id: ID!) { deployTicket(id: $id) { id } }', { id: ticketId });
  return ticketId;
}

async function rollbackToPrevious(projectId: string): Promise<string> {
  const list = await gql('query($p: ID!) { releases(projectId: $p) { id number live } }', { p: projectId });
  const live = list.releases.find((r: { live: boolean }) => r.live);
  const previous = list.releases.find((r: { number: number }) => r.number === live.number - 1);
  const rb = await gql('mutation($r: ID!) { requestRollback(releaseId: $r, reason: "bench") { id } }', {
    r: previous.id,
  });
  await gql('mutation($id: ID!) { approveTicket(id: $id) { id } }', { id: rb.requestRollback.id });
  await gql('mutation($id: ID!) { deployTicket(id: $id) { id } }', { id: rb.requestRollback.id });
  return rb.requestRollback.id;
}

async function tenAtATime(count: number, work: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL, count) }, async () => {
      while (next < count) await work(next++);
    }),
  );
  return performance.now() - started;
}

const floor = (count: number) =>
  tenAtATime(count, (i) =>
    execa('ssh', [...sshCommand.split(' ').slice(1), `${fleet.user}@${fleet.addresses[i]}`, 'true']),
  );

const plainRsync = (source: string, name: string, count: number) =>
  tenAtATime(count, (i) =>
    execa('rsync', [
      '-a',
      '--delete',
      '--mkpath',
      '--exclude=.git',
      '--exclude=.svn',
      '-e',
      sshCommand,
      `${source}/`,
      `${fleet.user}@${fleet.addresses[i]}:${targetDir(name, i)}/`,
    ]),
  );

const rows: string[][] = [];
const report = (row: string[]) => {
  rows.push(row);
  console.log(`| ${row.join(' | ')} |`);
};
console.log(`${FILES.toLocaleString('en')} files, ${TARGETS} targets on ${TARGETS} addresses, ${PARALLEL} at a time\n`);
console.log(
  '| measure | Slipway | plain rsync ×10 | floor (ssh true ×10) | Slipway ÷ rsync | Slipway ÷ floor | load |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');

const floors: number[] = [];
for (let run = 0; run < RUNS; run++) floors.push(await floor(TARGETS));
const floorMs = median(floors);

/**
 * First deploys, RUNS of them: every file to every target of a new project (empty directories), each between two plain
 * rsyncs of the same tree to empty directories of the same hosts, one just before and one just after: the disk of a
 * machine that holds the whole fleet slows as it fills and swings within a run (19–39 s for the same plain copy), so
 * each Slipway run is compared with the mean of the plain copies on either side of it. Each of the three copies starts
 * on an idle disk (settleDisk), and nothing is deleted until all three are done: on a disk mounted with `discard`, a
 * deletion of 500,000 files kept the disk busy into the copy after it (the Slipway run, as this was first written). The
 * first run's project and plain copies stay for the rows after; the others are deleted once measured (10,000 files ×
 * 50 targets is ~2 GB). `TMPDIR=/dev/shm` puts the whole rig in memory (≥ 16 GB free for 50 targets): no disk at all.
 */
async function firstDeploys(name: string, mode: 'IN_PLACE' | 'ATOMIC', plainToo: boolean) {
  const runs: { ms: number; plainMs: number | null }[] = [];
  let kept = '';
  let figures: JobFigures | undefined;
  for (let run = 0; run < FIRST_RUNS; run++) {
    const label = run === 0 ? name : `${name}-${run}`;
    const id = await project(label, TARGETS, mode);
    const plainLabel = mode === 'IN_PLACE' && run === 0 ? 'plain' : `plain-${mode.toLowerCase()}-${run}`;
    // Each copy starts with nothing left to write from what came before, the disk idle (a fleet is gigabytes of small
    // files); deletions wait until all three copies of the run are done.
    const idle = [await settleDisk()];
    // Before: the staging checkout holds the same 10,000 files (its .svn left out, as Slipway leaves it out).
    const plainBefore = plainToo ? await plainRsync(join(dir, `staging-${label}`), `${plainLabel}-before`, TARGETS) : 0;
    idle.push(await settleDisk());
    const measuredRun = await measured(() => release(id, `first ${run} ${randomBytes(8).toString('hex')}\n`));
    figures ??= measuredRun;
    const { ms } = measuredRun;
    // Atomic targets prune and make their spare link copy after the job: done before the next copy is timed.
    const background = mode === 'ATOMIC' ? await settled(label) : 0;
    if (plainToo) idle.push(await settleDisk());
    const plainAfter = plainToo
      ? await plainRsync(join(dir, 'data', 'projects', id, 'release'), plainLabel, TARGETS)
      : 0;
    const plainMs = plainToo ? (plainBefore + plainAfter) / 2 : null;
    runs.push({ ms, plainMs });
    console.log(
      `  (${mode} first deploy ${run + 1}: ${measuredRun.timing}; plain rsync before ${seconds(plainBefore)}, after ${seconds(plainAfter)}; the disk settled in ${idle.map(seconds).join(', ')}${mode === 'ATOMIC' ? ` (background work done ${seconds(background)} after the job)` : ''}; dirty ${await dirty()})`,
    );
    await execa('rm', ['-rf', join(dir, 'targets', `${plainLabel}-before`)]);
    if (run === 0) kept = id;
    else {
      await gql('mutation($p: ID!) { archiveProject(id: $p) { id } }', { p: id }).catch(() => undefined);
      await execa('rm', ['-rf', join(dir, 'targets', label), join(dir, 'targets', plainLabel)]);
    }
  }
  const ms = median(runs.map((r) => r.ms));
  // Connections and bytes of the first run, the median time of all.
  return { projectId: kept, runs, ms, figures: { ...(figures as JobFigures), ms } };
}

// First deploy: every file to every target (Slipway in place; plain rsync to empty directories just before and just
// after each, their mean the comparison), three times.
const firstInPlace = await firstDeploys('in-place', 'IN_PLACE', true);
const inPlace = firstInPlace.projectId;
const first = firstInPlace.figures;
const releaseTree = join(dir, 'data', 'projects', inPlace, 'release');
const plainFirst = median(firstInPlace.runs.map((r) => r.plainMs ?? 0));
const eachRun = (runs: { ms: number; plainMs: number | null }[]) =>
  runs.map((r) => ratio(r.ms, r.plainMs ?? plainFirst)).join(', ');
report([
  `first deploy (full copy), in place, ${TARGETS} targets (plain rsync: the mean of one just before and one just after each run; each run's ratio: ${eachRun(firstInPlace.runs)})`,
  seconds(first.ms),
  seconds(plainFirst),
  seconds(floorMs),
  ratio(first.ms, plainFirst),
  ratio(first.ms, floorMs),
  String(load()),
]);

const plainOneFile = async () => {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    await writeFile(join(releaseTree, 'www/changing.txt'), `peer ${run} ${randomBytes(8).toString('hex')}\n`);
    times.push(await plainRsync(releaseTree, 'plain', TARGETS));
  }
  await execa('git', ['-C', releaseTree, 'checkout', '--', '.']);
  return median(times);
};
const plainOne = await plainOneFile();

const oneFile = async (projectId: string) => {
  const figures: JobFigures[] = [];
  for (let run = 0; run < RUNS; run++)
    figures.push(await measured(() => release(projectId, `run ${run} ${randomBytes(8).toString('hex')}\n`)));
  return figures;
};
const inPlaceRuns = ONLY_ATOMIC ? [] : await oneFile(inPlace);
const inPlaceMs = median(inPlaceRuns.map((f) => f.ms));
if (!ONLY_ATOMIC)
  report([
    `one changed file, in place, ${TARGETS} targets`,
    seconds(inPlaceMs),
    seconds(plainOne),
    seconds(floorMs),
    ratio(inPlaceMs, plainOne),
    ratio(inPlaceMs, floorMs),
    String(load()),
  ]);

/**
 * After an atomic switch each target prunes and makes the spare link copy of its live release in the background, once
 * the job's connection has closed. Deploys are minutes apart in real life; here the next measured job starts when
 * that is done on every target (answers how long after the job it took).
 */
async function settled(name: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    const ready = await Promise.all(
      Array.from({ length: TARGETS }, async (_, i) => {
        const root = targetDir(name, i);
        const [names, current] = await Promise.all([readdir(join(root, 'releases')), readlink(join(root, 'current'))]);
        const live = current.replace(/^releases\//, '');
        return names.includes(`.${live}.spare`) && !names.some((n) => n.includes('.part.') || n.endsWith('.pruned'));
      }),
    );
    if (ready.every(Boolean)) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
}
const backgroundMs: number[] = [];

const firstAtomic = await firstDeploys('atomic', 'ATOMIC', true);
const atomic = firstAtomic.projectId;
const atomicFirst = firstAtomic.figures;
report([
  `first deploy (full copy), atomic, ${TARGETS} targets (plain rsync before and after each run; each run's ratio: ${eachRun(firstAtomic.runs)})`,
  seconds(atomicFirst.ms),
  seconds(median(firstAtomic.runs.map((r) => r.plainMs ?? 0))),
  seconds(floorMs),
  ratio(atomicFirst.ms, median(firstAtomic.runs.map((r) => r.plainMs ?? 0))),
  ratio(atomicFirst.ms, floorMs),
  String(load()),
]);
if (ONLY_FIRST) {
  await cleanUp();
  process.exit(0);
}
// Without a spare ready (the spares taken away): every target links the base release while the deploy waits.
const coldRuns: JobFigures[] = [];
for (let run = 0; run < RUNS; run++) {
  backgroundMs.push(await settled('atomic'));
  for (let i = 0; i < TARGETS; i++) {
    const releasesDir = join(targetDir('atomic', i), 'releases');
    for (const entry of await readdir(releasesDir))
      if (entry.endsWith('.spare')) await rm(join(releasesDir, entry), { recursive: true });
  }
  coldRuns.push(await measured(() => release(atomic, `cold ${run} ${randomBytes(8).toString('hex')}\n`)));
}
const coldMs = median(coldRuns.map((f) => f.ms));
report([
  `one changed file, atomic, no spare copy ready (links ${FILES.toLocaleString('en')} files per target while timed), ${TARGETS} targets`,
  seconds(coldMs),
  seconds(plainOne),
  seconds(floorMs),
  ratio(coldMs, plainOne),
  ratio(coldMs, floorMs),
  String(load()),
]);
const atomicRuns: JobFigures[] = [];
for (let run = 0; run < RUNS; run++) {
  backgroundMs.push(await settled('atomic'));
  atomicRuns.push(await measured(() => release(atomic, `run ${run} ${randomBytes(8).toString('hex')}\n`)));
}
const atomicMs = median(atomicRuns.map((f) => f.ms));
report([
  `one changed file, atomic (each target's spare link copy of ${FILES.toLocaleString('en')} files made after the previous job), ${TARGETS} targets`,
  seconds(atomicMs),
  seconds(plainOne),
  seconds(floorMs),
  ratio(atomicMs, plainOne),
  ratio(atomicMs, floorMs),
  String(load()),
]);
// Back to back: each ticket is taken through as soon as the last deploy is over, while that deploy's background work
// (pruning, the spare copy of the release it made live) still runs on every target.
backgroundMs.push(await settled('atomic'));
await measured(() => release(atomic, `lead-in ${randomBytes(8).toString('hex')}\n`));
const backToBackRuns: JobFigures[] = [];
for (let run = 0; run < RUNS; run++)
  backToBackRuns.push(await measured(() => release(atomic, `back ${run} ${randomBytes(8).toString('hex')}\n`)));
const backToBackMs = median(backToBackRuns.map((f) => f.ms));
report([
  `one changed file, atomic, deploys back to back (the last one's background work still running), ${TARGETS} targets`,
  seconds(backToBackMs),
  seconds(plainOne),
  seconds(floorMs),
  ratio(backToBackMs, plainOne),
  ratio(backToBackMs, floorMs),
  String(load()),
]);
// Back to back with no pause at all: tickets (each changing a file of its own) approved ahead, each deploy asked for
// the moment the last one is over.
const ahead = await approvedAhead(atomic, RUNS + 1);
await measured(async () => deploy(ahead[0] as string));
const noPauseRuns: JobFigures[] = [];
for (const id of ahead.slice(1)) noPauseRuns.push(await measured(async () => deploy(id)));
const noPauseMs = median(noPauseRuns.map((f) => f.ms));
report([
  `one changed file, atomic, each deploy asked for the moment the last one is over (tickets approved ahead), ${TARGETS} targets`,
  seconds(noPauseMs),
  seconds(plainOne),
  seconds(floorMs),
  ratio(noPauseMs, plainOne),
  ratio(noPauseMs, floorMs),
  String(load()),
]);
console.log(`  (steps of the last one: ${noPauseRuns.at(-1)?.timing})`);
const rollbacks: JobFigures[] = [];
for (let run = 0; run < RUNS; run++) {
  backgroundMs.push(await settled('atomic'));
  rollbacks.push(await measured(() => rollbackToPrevious(atomic)));
  // Forward again, so the next rollback goes to the previous release too.
  if (run < RUNS - 1) await measured(() => release(atomic, `again ${run} ${randomBytes(8).toString('hex')}\n`));
}
backgroundMs.push(await settled('atomic'));
const rollbackMs = median(rollbacks.map((f) => f.ms));
report([
  `atomic rollback to the previous release, ${TARGETS} targets`,
  seconds(rollbackMs),
  seconds(plainOne),
  seconds(floorMs),
  ratio(rollbackMs, plainOne),
  ratio(rollbackMs, floorMs),
  String(load()),
]);

async function cleanUp() {
  await worker.stop();
  await server.shutdown();
  await fleet.stop();
  await database.sql.end();
  await postgres.stop();
  // Millions of files (50 targets × releases × 10,000): the system's rm is much faster than Node's.
  await execa('rm', ['-rf', dir]);
}
if (ONLY_ATOMIC) {
  await cleanUp();
  process.exit(0);
}

// Drift: one byte changed (same size, same time) on one target, a file deleted on another, one added on a third.
const drifted = [3, 17, 31].map((i) => i % TARGETS);
{
  const edited = join(targetDir('in-place', drifted[0] as number), 'www/f0/p0.html');
  const { mtime } = await stat(edited);
  const content = await readFile(edited);
  content[3] = content[3] === 0x31 ? 0x32 : 0x31;
  await writeFile(edited, content);
  await utimes(edited, mtime, mtime);
  await rm(join(targetDir('in-place', drifted[1] as number), 'www/f1/p600.html'));
  await writeFile(join(targetDir('in-place', drifted[2] as number), 'www/f2/hotfix.php'), '<?php // by hand\n');
}
/** RUNS verifications of a project's targets (VERIFY jobs): their durations, and what the last one found. */
async function verifications(projectId: string) {
  const times: number[] = [];
  let targets: { name: string; verification: { state: string; drifted: { path: string; change: string }[] } }[] = [];
  for (let run = 0; run < RUNS; run++) {
    const job = (await gql('mutation($p: ID!) { verifyTargets(projectId: $p) { id } }', { p: projectId }))
      .verifyTargets;
    const [done] = await until(
      () =>
        database.db
          .select()
          .from(jobs)
          .where(eq(jobs.id, Number(job.id))),
      ([row]) => row?.state === 'SUCCEEDED' || row?.state === 'FAILED',
    );
    if (done?.state !== 'SUCCEEDED') throw new Error(`verification failed: ${done?.lastError}`);
    times.push((done.finishedAt?.getTime() ?? 0) - (done.startedAt?.getTime() ?? 0));
    targets = (
      await gql(
        'query($p: ID!) { project(id: $p) { targets { name verification { state drifted { path change } } } } }',
        { p: projectId },
      )
    ).project.targets;
  }
  return { ms: median(times), targets };
}
/** RUNS plain `rsync -a --dry-run --checksum --delete` of `source` to every target's `dir(i)`, ten at a time. */
async function plainDryRuns(source: string, dir: (i: number) => string): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++)
    times.push(
      await tenAtATime(TARGETS, (i) =>
        execa('rsync', [
          '-a',
          '--dry-run',
          '--checksum',
          '--delete',
          '--exclude=.git',
          '-e',
          sshCommand,
          `${source}/`,
          `${fleet.user}@${fleet.addresses[i]}:${dir(i)}/`,
        ]),
      ),
    );
  return median(times);
}
const inPlaceVerified = await verifications(inPlace);
const found = inPlaceVerified.targets;
const reported = found
  .filter((t) => t.verification.state !== 'IN_SYNC')
  .map(
    (t) => `${t.name} ${t.verification.state} ${t.verification.drifted.map((d) => `${d.change} ${d.path}`).join(', ')}`,
  );
const plainVerifyMs = await plainDryRuns(releaseTree, (i) => targetDir('in-place', i));
const verifyMs = inPlaceVerified.ms;
report([
  `verification by checksum (3 drifted), in place, ${TARGETS} targets`,
  seconds(verifyMs),
  `${seconds(plainVerifyMs)} (dry run)`,
  seconds(floorMs),
  ratio(verifyMs, plainVerifyMs),
  ratio(verifyMs, floorMs),
  String(load()),
]);
const verifyFound = `found: ${reported.join('; ') || 'nothing'} (${found.length - reported.length} in sync)`;

// The same verification of the atomic targets (their `current`), against a plain dry run of the tree they hold.
const atomicVerified = await verifications(atomic);
const atomicTree = join(dir, 'data', 'projects', atomic, 'verify');
const plainAtomicVerify = await plainDryRuns(atomicTree, (i) => `${targetDir('atomic', i)}/current`);
report([
  `verification by checksum, atomic (\`current\` and what it holds), ${TARGETS} targets`,
  seconds(atomicVerified.ms),
  `${seconds(plainAtomicVerify)} (dry run)`,
  seconds(floorMs),
  ratio(atomicVerified.ms, plainAtomicVerify),
  ratio(atomicVerified.ms, floorMs),
  String(load()),
]);
if (atomicVerified.targets.some((t) => t.verification.state !== 'IN_SYNC'))
  throw new Error('an atomic target drifted where nothing was changed');

// Environments: a one-file release promoted from QA (one local target) to a production of every host.
const promoted = await project('promoted', 0, 'IN_PLACE');
const environmentsOf = async () =>
  (await gql('query($p: ID!) { project(id: $p) { environments { id name liveRelease { id } } } }', { p: promoted }))
    .project.environments as { id: string; name: string; liveRelease: { id: string } | null }[];
const qaId = (await environmentsOf())[0]?.id as string;
await gql('mutation($id: ID!) { updateEnvironment(id: $id, input: { name: "qa" }) { id } }', { id: qaId });
const productionId = (
  await gql(
    'mutation($p: ID!) { addEnvironment(projectId: $p, input: { name: "production", requiredApprovals: 0 }) { id } }',
    {
      p: promoted,
    },
  )
).addEnvironment.id as string;
await gql('mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }', {
  p: promoted,
  t: { name: 'qa', path: join(dir, 'targets', 'promoted-qa'), environmentId: qaId },
});
for (let i = 0; i < TARGETS; i++)
  await gql('mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }', {
    p: promoted,
    t: {
      name: `t${i}`,
      host: fleet.addresses[i],
      port: fleet.port,
      user: fleet.user,
      path: targetDir('promoted', i),
      environmentId: productionId,
    },
  });
/** Promotes what QA runs to production (no approval needed there): answers the ticket once its deploy is asked for. */
async function promoteFromQa(): Promise<string> {
  const qaRelease = (await environmentsOf())[0]?.liveRelease?.id;
  const asked = await gql(
    'mutation($r: ID!, $e: ID!) { requestPromotion(releaseId: $r, environmentId: $e, reason: "bench") { id state } }',
    { r: qaRelease, e: productionId },
  );
  await gql('mutation($id: ID!) { deployTicket(id: $id) { id } }', { id: asked.requestPromotion.id });
  return asked.requestPromotion.id;
}
await measured(() => release(promoted, `first ${randomBytes(8).toString('hex')}\n`));
const firstPromotion = await measured(promoteFromQa);
const promotions: JobFigures[] = [];
for (let run = 0; run < RUNS; run++) {
  await measured(() => release(promoted, `promoted ${run} ${randomBytes(8).toString('hex')}\n`));
  promotions.push(await measured(promoteFromQa));
}
const promotionMs = median(promotions.map((f) => f.ms));
report([
  `promotion of a one-changed-file release from QA to production, in place, ${TARGETS} targets`,
  seconds(promotionMs),
  seconds(plainOne),
  seconds(floorMs),
  ratio(promotionMs, plainOne),
  ratio(promotionMs, floorMs),
  String(load()),
]);
// A rollback of QA alone: production's hosts see no connection (their sshd logs count every one).
const qaPrevious = async () => {
  const list = (await gql('query($p: ID!) { releases(projectId: $p) { id number liveIn { name } } }', { p: promoted }))
    .releases as { id: string; number: number; liveIn: { name: string }[] }[];
  const live = list.find((r) => r.liveIn.some((e) => e.name === 'qa'));
  return list.find((r) => r.number === (live?.number ?? 0) - 1)?.id;
};
const qaRollback = await measured(async () => {
  const asked = await gql(
    'mutation($r: ID!, $e: ID) { requestRollback(releaseId: $r, environmentId: $e, reason: "bench") { id } }',
    { r: await qaPrevious(), e: qaId },
  );
  await gql('mutation($id: ID!) { approveTicket(id: $id) { id } }', { id: asked.requestRollback.id });
  await gql('mutation($id: ID!) { deployTicket(id: $id) { id } }', { id: asked.requestRollback.id });
  return asked.requestRollback.id;
});
const promotionNote = `first promotion to production (full copy): ${seconds(firstPromotion.ms)}; QA's rollback took ${seconds(qaRollback.ms)} and production's ${TARGETS} hosts accepted ${qaRollback.connections.reduce((a, b) => a + b, 0)} ssh connection(s) during it (sshd logs)`;

// One target: Slipway's fixed part shows.
const single = await project('single', 1, 'IN_PLACE');
await measured(() => release(single, `first ${randomBytes(8).toString('hex')}\n`));
const singleRuns = await oneFile(single);
const singleMs = median(singleRuns.map((f) => f.ms));
const singleTree = join(dir, 'data', 'projects', single, 'release');
await plainRsync(singleTree, 'plain-single', 1);
const plainSingle: number[] = [];
for (let run = 0; run < RUNS; run++) {
  await writeFile(join(singleTree, 'www/changing.txt'), `peer ${run} ${randomBytes(8).toString('hex')}\n`);
  plainSingle.push(await plainRsync(singleTree, 'plain-single', 1));
}
await execa('git', ['-C', singleTree, 'checkout', '--', '.']);
const floorOne = median([await floor(1), await floor(1), await floor(1)]);
report([
  'one changed file, in place, 1 target',
  seconds(singleMs),
  seconds(median(plainSingle)),
  seconds(floorOne),
  ratio(singleMs, median(plainSingle)),
  ratio(singleMs, floorOne),
  String(load()),
]);

// The per-step timing of the last one-target deploy, as its job log says it.
const [timing] = await database.db.execute<{ text: string }>(
  sql`select l.text from job_log_lines l join jobs j on j.id = l.job_id
      where j.project_id = ${Number(single)} and j.kind = 'DEPLOY' and l.text like 'timing:%'
      order by j.id desc limit 1`,
);
console.log(`\nsteps of a one-file deploy to 1 target: ${timing?.text ?? '(no timing line)'}`);

const connectionsOf = (figures: JobFigures[]) => Math.max(...figures.flatMap((f) => f.connections));
console.log('');
console.log('| per target per job | first deploy | one file, in place | one file, atomic | atomic rollback |');
console.log('| --- | --- | --- | --- | --- |');
console.log(
  `| ssh connections (max over targets) | ${connectionsOf([first])} | ${connectionsOf(inPlaceRuns)} | ${connectionsOf(atomicRuns)} | ${connectionsOf(rollbacks)} |`,
);
const bytes = (figures: JobFigures[]) => `${Math.max(...figures.flatMap((f) => f.bytesSent)).toLocaleString('en')} B`;
console.log(
  `| bytes sent (max over targets) | ${bytes([first])} | ${bytes(inPlaceRuns)} | ${bytes(atomicRuns)} | ${bytes(rollbacks)} |`,
);
console.log(`\n(the changed file is ~50 B; atomic first deploy: ${seconds(atomicFirst.ms)})`);
console.log(`\nverification ${verifyFound}`);
console.log(`\nenvironments: ${promotionNote}`);
console.log(
  `\natomic targets' background work (pruning, the spare copy) done after each job in ${seconds(median(backgroundMs))} (median; longest ${seconds(Math.max(...backgroundMs))})`,
);

await cleanUp();

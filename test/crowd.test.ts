import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from '@slipway/executor';
import { LogSink } from '@slipway/executor/log-sink';
import { firstEnvironment, jobLogLines, jobs, projects, tickets, users } from '@slipway/schema';
import type { LogBatch } from '@slipway/server/graphql/log-batch';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './support/api.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, waitForState } from './support/flow.ts';
import { createReadyProject } from './support/project.ts';
import { SvnRepo } from './support/svn.ts';
import { createWorld, type World } from './support/world.ts';
import { RawGraphqlSocket } from './support/ws.ts';

let world: World<'dev' | 'lead'>;
let replicaB: TestApi;
let projectId: number;
let environmentId: number;

const LOG = 'subscription($j: ID!, $a: Int) { jobLog(jobId: $j, afterSeq: $a) { seq text } }';

beforeAll(async () => {
  world = await createWorld('crowd', ['dev', 'lead']);
  replicaB = await startTestApi(world.database);
  const [project] = await world.database.db
    .insert(projects)
    .values({ name: 'crowd', sourceType: 'SVN', sourceUrl: 'file:///nowhere', stagingPath: join(world.dir, 'w') })
    .returning();
  projectId = project?.id as number;
  environmentId = (await firstEnvironment(world.database.db, projectId)).id;
  await ok(
    world.api,
    world.people.admin.token,
    'mutation($p: ID!, $u: ID!) { setMember(projectId: $p, userId: $u, role: LEAD) { id } }',
    { p: projectId, u: world.people.lead.id },
  );
});

afterAll(async () => {
  await replicaB?.close();
  await world?.close();
});

async function runningJob(): Promise<number> {
  const [job] = await world.database.db
    .insert(jobs)
    .values({ projectId, kind: 'DEPLOY', state: 'RUNNING', pool: 'nobody', startedAt: new Date() })
    .returning();
  return job?.id as number;
}

async function finish(jobId: number) {
  await world.database.db.update(jobs).set({ state: 'SUCCEEDED', finishedAt: new Date() }).where(eq(jobs.id, jobId));
  await world.database.sql`select pg_notify('slipway_job_updated', ${String(jobId)})`;
}

const linesOf = (socket: RawGraphqlSocket, id: string) =>
  socket
    .of(id)
    .filter((m) => m.type === 'next')
    .flatMap((m) => m.payload.data.jobLog as { seq: number; text: string }[]);

describe('one log reader per job, shared by every subscriber', () => {
  it('resumes with afterSeq while a reader is live, on another replica, with no gap and no duplicate', async () => {
    const jobId = await runningJob();
    const sink = new LogSink(world.database.db, jobId, 0);
    let n = 0;
    const printing = setInterval(() => {
      for (let i = 0; i < 50; i++) sink.system(`line ${++n}`);
    }, 10);
    const watcher = await RawGraphqlSocket.open(world.api.url, world.people.lead.token);
    watcher.subscribe('all', LOG, { j: jobId, a: 0 });
    // A second subscriber on replica B reads a while, goes away, and comes back on replica A after its last line.
    const first = await RawGraphqlSocket.open(replicaB.url, world.people.lead.token);
    first.subscribe('part', LOG, { j: jobId, a: 0 });
    await first.until(() => linesOf(first, 'part').length >= 500);
    first.close();
    const seen = linesOf(first, 'part');
    const resumed = await RawGraphqlSocket.open(world.api.url, world.people.lead.token);
    resumed.subscribe('rest', LOG, { j: jobId, a: seen.at(-1)?.seq });
    await sleep(500);
    clearInterval(printing);
    await sink.flush();
    await finish(jobId);
    await resumed.until(() => resumed.of('rest').some((m) => m.type === 'complete'), 20_000);
    await watcher.until(() => watcher.of('all').some((m) => m.type === 'complete'), 20_000);

    const stored = await world.database.db
      .select({ seq: jobLogLines.seq })
      .from(jobLogLines)
      .where(eq(jobLogLines.jobId, jobId))
      .orderBy(asc(jobLogLines.seq));
    const every = stored.map((l) => l.seq);
    expect(every.length).toBeGreaterThan(1000);
    expect([...seen, ...linesOf(resumed, 'rest')].map((l) => l.seq)).toEqual(every);
    expect(linesOf(watcher, 'all').map((l) => l.seq)).toEqual(every);
    for (const socket of [watcher, resumed]) socket.close();
  }, 60_000);

  it('sends the compact form (jobLogBatch) with every line once and in order, a resume after a reconnect included', async () => {
    const BATCH =
      'subscription($j: ID!, $a: Int) { jobLogBatch(jobId: $j, afterSeq: $a) { firstSeq lastSeq seqs streams texts at offsets } }';
    // The same subscription outside the shared path (a directive makes it an ordinary GraphQL execution).
    const ORDINARY =
      'subscription($j: ID!, $a: Int, $y: Boolean = true) { jobLogBatch(jobId: $j, afterSeq: $a) { firstSeq lastSeq seqs streams texts @include(if: $y) at offsets } }';
    const expand = (socket: RawGraphqlSocket, id: string) =>
      socket
        .of(id)
        .filter((m) => m.type === 'next')
        .flatMap((m) => {
          const batch = m.payload.data.jobLogBatch as LogBatch;
          expect(batch.texts.length).toBe(batch.streams.length);
          expect(batch.offsets.length).toBe(batch.texts.length);
          return batch.texts.map((text, i) => ({
            seq: batch.seqs ? (batch.seqs[i] as number) : batch.firstSeq + i,
            stream: batch.streams[i],
            text,
            at: Date.parse(batch.at) + (batch.offsets[i] as number),
          }));
        });
    const jobId = await runningJob();
    const sink = new LogSink(world.database.db, jobId, 0);
    let n = 0;
    const printing = setInterval(() => {
      for (let i = 0; i < 50; i++) {
        n++;
        if (n % 7 === 0) sink.line('STDERR', `error ${n}`);
        else sink.system(`line ${n}`);
      }
    }, 10);
    const watcher = await RawGraphqlSocket.open(world.api.url, world.people.lead.token);
    watcher.subscribe('all', BATCH, { j: jobId, a: 0 });
    const ordinary = await RawGraphqlSocket.open(replicaB.url, world.people.lead.token);
    ordinary.subscribe('all', ORDINARY, { j: jobId, a: 0 });
    // A console on replica B reads a while, loses its connection, and resumes on replica A after its last line.
    const first = await RawGraphqlSocket.open(replicaB.url, world.people.lead.token);
    first.subscribe('part', BATCH, { j: jobId, a: 0 });
    await first.until(() => expand(first, 'part').length >= 500);
    first.close();
    const seen = expand(first, 'part');
    const resumed = await RawGraphqlSocket.open(world.api.url, world.people.lead.token);
    resumed.subscribe('rest', BATCH, { j: jobId, a: seen.at(-1)?.seq });
    await sleep(500);
    clearInterval(printing);
    // A gap in the numbering (lines of an attempt that never got stored): the batch then lists its seqs.
    const after = new LogSink(world.database.db, jobId, n + 5);
    after.system('after the gap');
    after.line('STDOUT', 'and one more');
    await sink.flush();
    await after.flush();
    await finish(jobId);
    for (const [socket, id] of [
      [resumed, 'rest'],
      [watcher, 'all'],
      [ordinary, 'all'],
    ] as const)
      await socket.until(() => socket.of(id).some((m) => m.type === 'complete'), 20_000);

    const stored = await world.database.db
      .select()
      .from(jobLogLines)
      .where(eq(jobLogLines.jobId, jobId))
      .orderBy(asc(jobLogLines.seq));
    const every = stored.map((l) => ({
      seq: l.seq,
      stream: l.stream === 'SYSTEM' ? 'S' : l.stream === 'STDERR' ? 'E' : 'O',
      text: l.text,
      at: l.at.getTime(),
    }));
    expect(every.length).toBeGreaterThan(1000);
    expect(every.at(-1)?.seq).toBe(n + 7);
    expect([...seen, ...expand(resumed, 'rest')]).toEqual(every);
    expect(expand(watcher, 'all')).toEqual(every);
    expect(expand(ordinary, 'all')).toEqual(every);
    for (const socket of [watcher, resumed, ordinary]) socket.close();
  }, 60_000);

  it('sends a shared batch of any size whole (frames under 126 bytes, under 64 KiB and over)', async () => {
    const jobId = await runningJob();
    const sockets = await Promise.all([1, 2].map(() => RawGraphqlSocket.open(world.api.url, world.people.lead.token)));
    for (const socket of sockets) socket.subscribe('log', LOG, { j: jobId, a: 0 });
    await sleep(200);
    const sink = new LogSink(world.database.db, jobId, 0);
    const texts: string[] = [];
    const print = async (count: number, width: number) => {
      for (let i = 0; i < count; i++) {
        const text = `${texts.length + 1} ${'é'.repeat(width)}`;
        texts.push(text);
        sink.line('STDOUT', text);
      }
      await sink.flush();
      await Promise.all(sockets.map((s) => s.until(() => linesOf(s, 'log').length === texts.length)));
    };
    await print(1, 1);
    await print(30, 20);
    await print(1500, 60);
    await finish(jobId);
    for (const socket of sockets) {
      await socket.until(() => socket.of('log').some((m) => m.type === 'complete'));
      expect(linesOf(socket, 'log').map((l) => l.text)).toEqual(texts);
      socket.close();
    }
  });

  it('cuts off a subscriber that stops reading, with the reason, while the others keep up', async () => {
    const jobId = await runningJob();
    const reader = await RawGraphqlSocket.open(world.api.url, world.people.lead.token);
    reader.subscribe('reader', LOG, { j: jobId, a: 0 });
    const stalled = await RawGraphqlSocket.open(world.api.url, world.people.lead.token);
    stalled.subscribe('stalled', LOG, { j: jobId, a: 0 });
    await sleep(200);
    // It stops reading its socket: the server's sends back up, and the lines queue up for it alone.
    stalled.pause();
    const sink = new LogSink(world.database.db, jobId, 0);
    const total = 150_000;
    for (let i = 1; i <= total; i++) {
      sink.line('STDOUT', `a line long enough to fill the socket's buffers quickly: ${'x'.repeat(60)} ${i}`);
      if (i % 5000 === 0) await sleep(0);
    }
    await sink.flush();
    await finish(jobId);
    await reader.until(() => reader.of('reader').some((m) => m.type === 'complete'), 60_000);
    expect(linesOf(reader, 'reader').length).toBe(total);
    stalled.resume();
    await stalled.until(() => stalled.of('stalled').some((m) => m.type === 'error'), 30_000);
    const cut = stalled.of('stalled').find((m) => m.type === 'error');
    expect(cut?.payload[0].extensions).toMatchObject({ code: 'RATE_LIMITED', reason: 'TOO_SLOW' });
    expect(cut?.payload[0].message).toMatch(/fell more than 20000 items behind; resume after \d+/);
    expect(stalled.closed).toBeNull();
    reader.close();
    stalled.close();
  }, 120_000);
});

describe('answers and ticket pages served from memory at the read clock', () => {
  const PAGE = 'query($p: ID!) { tickets(projectId: $p, first: 5) { edges { node { id state author { name } } } } }';
  const firstOnEach = async () =>
    Promise.all(
      [world.api, replicaB].map(async (api) => {
        const data = await ok(api, world.people.lead.token, PAGE, { p: projectId });
        return data.tickets.edges[0]?.node as { id: string; state: string; author: { name: string } };
      }),
    );

  it('never answers a page older than a change that committed, on either replica, whoever made the change', async () => {
    const { db } = world.database;
    await firstOnEach();
    for (let round = 0; round < 15; round++) {
      // Another writer (the executor, a script) adds a ticket: both replicas show it on the next read.
      const [ticket] = await db
        .insert(tickets)
        .values({
          projectId,
          environmentId,
          kind: 'RELEASE',
          state: 'PENDING_STAGING',
          reason: `round ${round}`,
          paths: ['www/a.php'],
          authorId: world.people.dev.id,
        })
        .returning();
      for (const node of await firstOnEach())
        expect(node).toMatchObject({ id: String(ticket?.id), state: 'PENDING_STAGING' });
      // A mutation answered by one replica: the very next read, on either, shows its result.
      const via = round % 2 ? replicaB : world.api;
      const cancelled = await ok(
        via,
        world.people.lead.token,
        'mutation($id: ID!) { cancelTicket(id: $id) { state } }',
        {
          id: ticket?.id,
        },
      );
      expect(cancelled.cancelTicket.state).toBe('CANCELLED');
      for (const node of await firstOnEach())
        expect(node).toMatchObject({ id: String(ticket?.id), state: 'CANCELLED' });
    }
    // The authors came with the page: a renamed author shows at once too.
    await db.update(users).set({ name: 'Dev Renamed' }).where(eq(users.id, world.people.dev.id));
    for (const node of await firstOnEach()) expect(node.author.name).toBe('Dev Renamed');
  });

  const answerHits = async (api: TestApi) => {
    const text = await (await fetch(`${api.url}/metrics`)).text();
    return Number(/^slipway_read_cache_hits_total\{cache="answer"\} (\d+)$/m.exec(text)?.[1]);
  };
  const post = (api: TestApi, token: string, query: string, variables: Record<string, unknown>) =>
    fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });

  it('sends a kept answer exactly as the first was sent, and counts it', async () => {
    const first = await post(world.api, world.people.lead.token, PAGE, { p: projectId });
    const hits = await answerHits(world.api);
    const again = await post(world.api, world.people.lead.token, PAGE, { p: projectId });
    expect(await answerHits(world.api)).toBe(hits + 1);
    expect(again.status).toBe(first.status);
    const headers = (r: Response) => [...r.headers].filter(([name]) => name !== 'date');
    expect(headers(again)).toEqual(headers(first));
    expect(await again.text()).toBe(await first.text());
    // Asked as an event stream, the answer is framed as one each time (only JSON answers are kept).
    const streamed = () =>
      fetch(`${world.api.url}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Bearer ${world.people.lead.token}`,
        },
        body: JSON.stringify({ query: PAGE, variables: { p: projectId } }),
      }).then((r) => r.text());
    const [once, twice] = [await streamed(), await streamed()];
    expect(once).toMatch(/event: next\ndata: \{"data"/);
    expect(twice).toBe(once);
  });

  it('answers each viewer their own, and refuses one who lost the project at once, on either replica', async () => {
    const WITH_EMAIL = 'query($p: ID!) { tickets(projectId: $p, first: 1) { edges { node { author { email } } } } }';
    await world.database.db.insert(tickets).values({
      projectId,
      environmentId,
      kind: 'RELEASE',
      state: 'PENDING_STAGING',
      reason: 'mail',
      paths: ['www/a.php'],
      authorId: world.people.dev.id,
    });
    await world.database.db.update(users).set({ email: 'dev@example.com' }).where(eq(users.id, world.people.dev.id));
    const admin = await ok(world.api, world.people.admin.token, WITH_EMAIL, { p: projectId });
    expect(admin.tickets.edges[0].node.author.email).toBe('dev@example.com');
    // The lead may not read another user's e-mail: not the admin's answer, a refusal of the field.
    const lead = await world.api.gql(WITH_EMAIL, { p: projectId }, { token: world.people.lead.token });
    expect(lead.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    for (const api of [world.api, replicaB]) await ok(api, world.people.lead.token, PAGE, { p: projectId });
    const setLead = (role: string | null) =>
      ok(
        world.api,
        world.people.admin.token,
        'mutation($p: ID!, $u: ID!, $r: Role) { setMember(projectId: $p, userId: $u, role: $r) { id } }',
        {
          p: projectId,
          u: world.people.lead.id,
          r: role,
        },
      );
    await setLead(null);
    for (const api of [world.api, replicaB]) {
      const refused = await api.gql(PAGE, { p: projectId }, { token: world.people.lead.token });
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    await setLead('LEAD');
    for (const api of [world.api, replicaB]) await ok(api, world.people.lead.token, PAGE, { p: projectId });
  });

  it('refuses a revoked API token at once on either replica, though its answer was kept on both', async () => {
    const made = await ok(
      world.api,
      world.people.lead.token,
      'mutation { createApiToken(name: "kept") { token apiToken { id } } }',
    );
    const { token } = made.createApiToken;
    for (let i = 0; i < 2; i++) for (const api of [world.api, replicaB]) await ok(api, token, PAGE, { p: projectId });
    await ok(world.api, world.people.lead.token, 'mutation($id: ID!) { revokeApiToken(id: $id) }', {
      id: made.createApiToken.apiToken.id,
    });
    for (const api of [world.api, replicaB]) {
      const refused = await api.gql(PAGE, { p: projectId }, { token });
      expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(refused.data ?? null).toBeNull();
    }
  });

  it('runs every time a query that reads more than tickets and users', async () => {
    const NEEDED = 'query($p: ID!) { tickets(projectId: $p, first: 1) { edges { node { approvalsNeeded } } } }';
    const needed = async () =>
      (await ok(world.api, world.people.lead.token, NEEDED, { p: projectId })).tickets.edges[0].node.approvalsNeeded;
    const hits = await answerHits(world.api);
    for (const required of [2, 3, 1]) {
      // Changed behind the server's back (no ticket or user changes): the answer must still follow.
      await world.database.db.update(projects).set({ requiredApprovals: required }).where(eq(projects.id, projectId));
      expect(await needed()).toBe(required);
    }
    expect(await answerHits(world.api)).toBe(hits);
  });
});

describe('subscription limits', () => {
  it('refuses the 21st subscription on a socket and the 101st of a user with an error; the sockets go on', async () => {
    const jobId = await runningJob();
    const sockets: RawGraphqlSocket[] = [];
    for (let s = 0; s < 5; s++) {
      const socket = await RawGraphqlSocket.open(world.api.url, world.people.lead.token);
      for (let i = 0; i < 20; i++) socket.subscribe(`s${i}`, LOG, { j: jobId, a: 0 });
      sockets.push(socket);
    }
    const [first] = sockets as [RawGraphqlSocket];
    first.subscribe('one-more', LOG, { j: jobId, a: 0 });
    await first.until(() => first.of('one-more').length > 0);
    expect(first.of('one-more')[0]?.payload[0].extensions).toMatchObject({
      code: 'RATE_LIMITED',
      scope: 'socket',
      limit: 20,
    });
    const sixth = await RawGraphqlSocket.open(world.api.url, world.people.lead.token);
    sixth.subscribe('over', LOG, { j: jobId, a: 0 });
    await sixth.until(() => sixth.of('over').length > 0);
    expect(sixth.of('over')[0]?.payload[0].extensions).toMatchObject({
      code: 'RATE_LIMITED',
      scope: 'user',
      limit: 100,
    });
    // Completing one frees its place.
    first.send({ id: 's0', type: 'complete' });
    await sleep(100);
    sixth.subscribe('now', '{ me { login } }');
    await sixth.until(() => sixth.of('now').some((m) => m.type === 'complete'));
    first.subscribe('again', LOG, { j: jobId, a: 0 });
    await finish(jobId);
    await first.until(() => first.of('again').some((m) => m.type === 'complete'));
    for (const socket of [...sockets, sixth]) {
      expect(socket.closed).toBeNull();
      socket.close();
    }
  }, 60_000);
});

describe('a job past its time limit', () => {
  let worker: Worker;

  afterAll(async () => {
    await worker?.stop();
  });

  it('is stopped, its commands killed, and its ticket fails with the reason', async () => {
    const dir = join(world.dir, 'limit');
    const svn = await SvnRepo.create(world.dir, { 'www/index.html': 'one\n' });
    worker = await startTestWorker(world.database, join(dir, 'data'), { timeLimitSeconds: 3 });
    const project = await createReadyProject(world.api, world.people.admin, {
      name: 'wedged',
      sourceUrl: svn.url,
      stagingPath: join(dir, 'staging'),
      settings: { preDeploy: 'echo waiting forever; sleep 600' },
      targets: [{ name: 'web', path: join(dir, 'target') }],
      members: [
        { user: world.people.dev, role: 'DEVELOPER' },
        { user: world.people.lead, role: 'LEAD' },
      ],
    });
    await svn.commit('two', { 'www/index.html': 'two\n' });
    const submitted = await ok(
      world.api,
      world.people.dev.token,
      'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
      { i: { projectId: project, reason: 'wedged', paths: ['www/index.html'] } },
    );
    const id = submitted.submitTicket.id;
    await waitForState(world.api, world.people.dev.token, id, 'AWAITING_TEST');
    await ok(world.api, world.people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
    await ok(world.api, world.people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
    const started = Date.now();
    await ok(world.api, world.people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
    const failed = await waitForState(world.api, world.people.dev.token, id, ['DEPLOY_FAILED', 'DEPLOYED'], 30_000);
    expect(failed.state).toBe('DEPLOY_FAILED');
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(failed.events.at(-1)?.comment).toMatch(/stopped: the deploy job ran longer than its 3-second time limit/);
    expect(failed.jobs.find((j) => j.kind === 'DEPLOY')).toMatchObject({ state: 'FAILED' });
    // The hook's sleep was killed with the job.
    const { execa } = await import('execa');
    const { stdout } = await execa('pgrep', ['-f', 'sleep 600'], { reject: false });
    expect(stdout.trim()).toBe('');
  }, 60_000);
});

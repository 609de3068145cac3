import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from '@slipway/executor';
import { jobs } from '@slipway/schema';
import { eq, sql } from 'drizzle-orm';
import { execa } from 'execa';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from './support/api.ts';
import type { TestDatabase } from './support/db.ts';
import { startTestWorker } from './support/executor.ts';
import { ok, waitFor, waitForState } from './support/flow.ts';
import { createReadyProject, ledgerOf } from './support/project.ts';
import { BUNDLE_ENV, EXECUTOR_BUNDLE, repoRoot } from './support/slipway.ts';
import { SvnRepo } from './support/svn.ts';
import { snapshot, tagSnapshot } from './support/tree.ts';
import { createWorld, type World } from './support/world.ts';

let world: World<'dev' | 'lead'>;
let dir: string;
let database: TestDatabase;
let api: TestApi;
let svn: SvnRepo;
let people: World<'dev' | 'lead'>['people'];

beforeAll(async () => {
  world = await createWorld('faults', ['dev', 'lead']);
  ({ dir, database, api, people } = world);
  svn = await SvnRepo.create(dir, {
    'www/index.html': 'index\n',
    // 3 MiB that rsync must send at the project's 1 MiB/s: the deploy is still running when the executor dies.
    'www/big.bin': randomBytes(3 * 1024 * 1024).toString('base64'),
  });
}, 120_000);

afterAll(async () => {
  await world?.close();
});

async function approvedTicket(projectId: string, paths: string[]): Promise<string> {
  const submitted = await ok(
    api,
    people.dev.token,
    'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
    {
      i: { projectId, reason: 'ship it', paths },
    },
  );
  const id: string = submitted.submitTicket.id;
  await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
  await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
  await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
  return id;
}

/** Any file at all under `root`, at any depth (rsync's partial files of --delay-updates included). */
async function holdsAnyFileBytes(root: string): Promise<boolean> {
  const walk = async (path: string): Promise<boolean> => {
    let entries: string[];
    try {
      entries = await readdir(path);
    } catch {
      return false;
    }
    for (const name of entries) {
      const full = join(path, name);
      const info = await stat(full).catch(() => null);
      if (info?.isDirectory() ? await walk(full) : (info?.size ?? 0) > 0) return true;
    }
    return false;
  };
  return walk(root);
}

describe('an executor killed in the middle of an rsync', () => {
  it('is replaced by another executor once its lease runs out; the target ends equal to the tag, with one tag', async () => {
    const dataDir = join(dir, 'data-kill');
    const target = join(dir, 'target-kill');
    // The first executor is a process of its own, in its own process group: killing the group is a host dying.
    const first = execa('node', EXECUTOR_BUNDLE, {
      cwd: repoRoot,
      env: {
        ...BUNDLE_ENV,
        DATABASE_URL: database.url,
        SLIPWAY_DATA_DIR: dataDir,
        SLIPWAY_LEASE_SECONDS: '3',
        SLIPWAY_POLL_SECONDS: '0.5',
        SLIPWAY_LOG_LEVEL: 'warn',
      },
      detached: true,
      reject: false,
      stdin: 'ignore',
    });
    let second: Worker | undefined;
    try {
      const projectId = await createReadyProject(api, people.admin, {
        name: 'killed',
        sourceUrl: svn.url,
        stagingPath: join(dir, 'staging-kill'),
        targets: [{ name: 'web', path: target }],
        members: [
          { user: people.dev, role: 'DEVELOPER' },
          { user: people.lead, role: 'LEAD' },
        ],
        settings: { bandwidthLimit: 1024 },
      });
      const ticketId = await approvedTicket(projectId, ['www/index.html']);
      await ok(api, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id: ticketId });

      await waitFor(() => holdsAnyFileBytes(target), Boolean);
      process.kill(-(first.pid as number), 'SIGKILL');
      await first;
      expect(await snapshot(target)).not.toEqual(await tagSnapshot(ledgerOf(dataDir, projectId), 'v1'));

      second = await startTestWorker(database, dataDir, { leaseSeconds: 3 });
      const done = await waitForState(api, people.dev.token, ticketId, ['DEPLOYED', 'DEPLOY_FAILED'], 60_000);
      expect(done.state, JSON.stringify(done.jobs)).toBe('DEPLOYED');
      const deployJobs = done.jobs.filter((j) => j.kind === 'DEPLOY');
      expect(deployJobs).toHaveLength(1);
      const [job] = await database.db
        .select()
        .from(jobs)
        .where(eq(jobs.id, Number(deployJobs[0]?.id)));
      expect(job?.attempts).toBe(2);
      expect(job?.lockedBy).toBe(second.id);
      expect(await snapshot(target)).toEqual(await tagSnapshot(ledgerOf(dataDir, projectId), 'v1'));
      const { stdout: tags } = await execa('git', ['-C', ledgerOf(dataDir, projectId), 'tag', '--list']);
      expect(tags.split('\n')).toEqual(['v0', 'v1']);
    } finally {
      if (first.exitCode === null && first.signalCode === null) process.kill(-(first.pid as number), 'SIGKILL');
      await second?.stop();
    }
  }, 120_000);
});

describe('a notification sent while the executor was disconnected', () => {
  it('is not lost: on reconnect the executor looks for queued jobs', async () => {
    const dataDir = join(dir, 'data-notify');
    const listening: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => listening.push(line) });
    // A poll far longer than the test: only the reconnect's catch-up can find the job.
    const worker = await startTestWorker(database, dataDir, { leaseSeconds: 3, pollSeconds: 600, logger });
    try {
      const projectId = await createReadyProject(api, people.admin, {
        name: 'reconnect',
        sourceUrl: svn.url,
        stagingPath: join(dir, 'staging-notify'),
        targets: [{ name: 'web', path: join(dir, 'target-notify') }],
        members: [{ user: people.dev, role: 'DEVELOPER' }],
      });
      const before = listening.filter((l) => l.includes('listening for jobs')).length;
      // Cut the executor's LISTEN connection and, before it is back, queue a job: its NOTIFY reaches nobody.
      await database.db.execute(sql`select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and application_name = 'slipway-test' and query ilike 'listen%'`);
      const submitted = await ok(
        api,
        people.dev.token,
        'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
        {
          i: { projectId, reason: 'after the cut', paths: ['www/index.html'] },
        },
      );
      const staged = await waitForState(api, people.dev.token, submitted.submitTicket.id, [
        'AWAITING_TEST',
        'STAGING_FAILED',
      ]);
      expect(staged.state).toBe('AWAITING_TEST');
      expect(listening.filter((l) => l.includes('listening for jobs')).length).toBeGreaterThan(before);
    } finally {
      await worker.stop();
    }
  }, 60_000);
});

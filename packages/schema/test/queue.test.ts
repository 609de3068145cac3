import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.ts';
import { claimJob, enqueueJob, finishJob, heartbeatJob } from '../src/queue.ts';
import { jobs, projects } from '../src/tables.ts';

let database: TestDatabase;
const projectIds: number[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  for (const name of ['a', 'b', 'c']) {
    const [p] = await database.db
      .insert(projects)
      .values({ name, sourceType: 'SVN', sourceUrl: 'file:///r', stagingPath: `/srv/${name}` })
      .returning();
    projectIds.push(p?.id as number);
  }
});

afterAll(async () => {
  await database?.drop();
});

const [A, B, C] = [0, 1, 2];

describe('the job queue', () => {
  it('runs one job per project at a time, in order, and jobs of different projects side by side', async () => {
    const { db } = database;
    const a1 = await enqueueJob(db, { projectId: projectIds[A] as number, kind: 'STAGE', pool: 'default' });
    const a2 = await enqueueJob(db, { projectId: projectIds[A] as number, kind: 'DEPLOY', pool: 'default' });
    const b1 = await enqueueJob(db, { projectId: projectIds[B] as number, kind: 'STAGE', pool: 'default' });

    const first = await claimJob(db, 'w1', 'default', 30);
    const second = await claimJob(db, 'w2', 'default', 30);
    const third = await claimJob(db, 'w3', 'default', 30);
    expect([first?.id, second?.id, third]).toEqual([a1.id, b1.id, null]);

    expect(await finishJob(db, a1.id, 'w1', { state: 'SUCCEEDED' })).toBe(true);
    expect((await claimJob(db, 'w3', 'default', 30))?.id).toBe(a2.id);
    await finishJob(db, a2.id, 'w3', { state: 'SUCCEEDED' });
    await finishJob(db, b1.id, 'w2', { state: 'SUCCEEDED' });
  });

  it('claims each job once when many executors claim at the same moment', async () => {
    const { db } = database;
    const queued = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        enqueueJob(db, { projectId: projectIds[i % 3] as number, kind: 'STAGE', pool: 'default' }),
      ),
    );
    const claimed: number[] = [];
    for (let round = 0; round < 10 && claimed.length < queued.length; round++) {
      const batch = await Promise.all(Array.from({ length: 8 }, (_, i) => claimJob(db, `w${i}`, 'default', 30)));
      const running = batch.filter((j) => j !== null);
      // At most one running job per project, whatever the race.
      expect(new Set(running.map((j) => j.projectId)).size).toBe(running.length);
      for (const job of running) {
        claimed.push(job.id);
        await finishJob(db, job.id, job.lockedBy as string, { state: 'SUCCEEDED' });
      }
    }
    expect(claimed.sort((x, y) => x - y)).toEqual(queued.map((j) => j.id).sort((x, y) => x - y));
  });

  it('takes only jobs of its own pool', async () => {
    const { db } = database;
    const job = await enqueueJob(db, { projectId: projectIds[C] as number, kind: 'STAGE', pool: 'eu-west' });
    expect(await claimJob(db, 'w-default', 'default', 30)).toBeNull();
    expect((await claimJob(db, 'w-eu', 'eu-west', 30))?.id).toBe(job.id);
    await finishJob(db, job.id, 'w-eu', { state: 'SUCCEEDED' });
  });

  it('gives a job whose lease ran out to another executor; the first can no longer renew or finish it', async () => {
    const { db } = database;
    const job = await enqueueJob(db, { projectId: projectIds[C] as number, kind: 'DEPLOY', pool: 'default' });
    const claimed = await claimJob(db, 'dead', 'default', 30);
    expect(claimed?.id).toBe(job.id);
    expect(await claimJob(db, 'alive', 'default', 30)).toBeNull();
    // The dead executor's lease runs out.
    await db.update(jobs).set({ leaseUntil: sql`now() - interval '1 second'` }).where(eq(jobs.id, job.id));
    const retaken = await claimJob(db, 'alive', 'default', 30);
    expect(retaken).toMatchObject({ id: job.id, attempts: 2, lockedBy: 'alive' });
    expect(await heartbeatJob(db, job.id, 'dead', 30)).toBe(false);
    expect(await finishJob(db, job.id, 'dead', { state: 'SUCCEEDED' })).toBe(false);
    expect(await heartbeatJob(db, job.id, 'alive', 30)).toBe(true);
    expect(await finishJob(db, job.id, 'alive', { state: 'SUCCEEDED' })).toBe(true);
  });

  it('wakes listeners with a notification that carries only the pool', async () => {
    const received: string[] = [];
    const listening = await database.sql.listen('slipway_job_queued', (payload) => received.push(payload));
    await database.db.transaction(async (tx) => {
      await enqueueJob(tx, { projectId: projectIds[A] as number, kind: 'STAGE', pool: 'default' });
      // Nothing is sent before the transaction commits.
      await new Promise((r) => setTimeout(r, 100));
      expect(received).toEqual([]);
    });
    await expect.poll(() => received).toEqual(['default']);
    await listening.unlisten();
  });
});

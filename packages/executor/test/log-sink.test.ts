import { jobLogLines, jobs, projects } from '@slipway/schema';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.ts';
import { LogSink } from '../src/log-sink.ts';

let database: TestDatabase;
let jobId: number;

beforeAll(async () => {
  database = await createTestDatabase();
  const [project] = await database.db
    .insert(projects)
    .values({ name: 'p', sourceType: 'SVN', sourceUrl: 'file:///r', stagingPath: '/srv/p' })
    .returning();
  const [job] = await database.db
    .insert(jobs)
    .values({ projectId: project?.id as number, kind: 'DEPLOY' })
    .returning();
  jobId = job?.id as number;
});

afterAll(async () => {
  await database?.drop();
});

it('stores 20,000 lines in order with one statement (INSERT and NOTIFY) per batch, not per line', async () => {
  const notifications: string[] = [];
  const listening = await database.sql.listen('slipway_job_log', (payload) => notifications.push(payload));
  const sink = new LogSink(database.db, jobId, 0);
  for (let i = 1; i <= 20_000; i++) sink.line(i % 10 ? 'STDOUT' : 'STDERR', `line ${i}`);
  await sink.flush();
  const stored = await database.db
    .select()
    .from(jobLogLines)
    .where(eq(jobLogLines.jobId, jobId))
    .orderBy(asc(jobLogLines.seq));
  expect(stored.map((l) => l.seq)).toEqual(Array.from({ length: 20_000 }, (_, i) => i + 1));
  expect(stored.at(-1)).toMatchObject({ text: 'line 20000', stream: 'STDERR' });
  await expect.poll(() => notifications.at(-1)).toBe(`${jobId}:20000`);
  // 2,000 lines a batch at most.
  expect(notifications.length).toBe(10);
  await listening.unlisten();
});

it('continues after the last stored line when the job is run again', async () => {
  const sink = new LogSink(database.db, jobId, 20_000);
  sink.system('second attempt');
  await sink.flush();
  const [last] = await database.db
    .select()
    .from(jobLogLines)
    .where(eq(jobLogLines.jobId, jobId))
    .orderBy(asc(jobLogLines.seq))
    .offset(20_000);
  expect(last).toMatchObject({ seq: 20_001, stream: 'SYSTEM', text: 'second attempt' });
});

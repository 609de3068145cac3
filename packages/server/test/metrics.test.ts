import { deployResults, firstEnvironment, jobs, projects, tickets, users } from '@slipway/schema';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/support/api.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.ts';

let database: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  database = await createTestDatabase();
  api = await startTestApi(database);
  const [project] = await database.db
    .insert(projects)
    .values({ name: 'p', sourceType: 'SVN', sourceUrl: 'file:///r', stagingPath: '/srv/p' })
    .returning();
  const [user] = await database.db.insert(users).values({ login: 'u', name: 'u', passwordHash: 'x' }).returning();
  const [ticket] = await database.db
    .insert(tickets)
    .values({
      projectId: project?.id as number,
      environmentId: (await firstEnvironment(database.db, project?.id as number)).id,
      kind: 'RELEASE',
      state: 'DEPLOYED',
      reason: 'r',
      authorId: user?.id as number,
    })
    .returning();
  const now = Date.now();
  const [job] = await database.db
    .insert(jobs)
    .values([
      {
        projectId: project?.id as number,
        kind: 'DEPLOY',
        state: 'SUCCEEDED',
        startedAt: new Date(now - 3000),
        finishedAt: new Date(now),
      },
      { projectId: project?.id as number, kind: 'STAGE', state: 'QUEUED' },
    ])
    .returning();
  await database.db.insert(deployResults).values([
    { jobId: job?.id as number, ticketId: ticket?.id as number, targetName: 'a', outcome: 'OK', durationMs: 1500 },
    { jobId: job?.id as number, ticketId: ticket?.id as number, targetName: 'b', outcome: 'FAILED', durationMs: 40 },
  ]);
});

afterAll(async () => {
  await api?.close();
  await database?.drop();
});

it('serves Prometheus text: jobs by kind and state, durations, target results, log lines, subscriptions, event loop lag', async () => {
  const response = await fetch(`${api.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await response.text();
  expect(text).toContain('slipway_jobs{kind="DEPLOY",state="SUCCEEDED"} 1');
  expect(text).toContain('slipway_jobs{kind="STAGE",state="QUEUED"} 1');
  expect(text).toContain('slipway_job_duration_seconds_bucket{kind="DEPLOY",le="2"} 0');
  expect(text).toContain('slipway_job_duration_seconds_bucket{kind="DEPLOY",le="5"} 1');
  expect(text).toContain('slipway_job_duration_seconds_count{kind="DEPLOY"} 1');
  expect(text).toContain('slipway_deploy_target_duration_seconds_bucket{outcome="OK",le="2"} 1');
  expect(text).toContain('slipway_deploy_target_results{outcome="FAILED"} 1');
  expect(text).toContain('slipway_log_lines_written 0');
  expect(text).toMatch(/slipway_subscriptions \d+/);
  expect(text).toMatch(/slipway_server_nodejs_eventloop_lag_seconds [\d.e-]+/);
  expect(text).toContain('# TYPE slipway_job_duration_seconds histogram');
});

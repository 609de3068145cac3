import type { Database } from '@slipway/schema';
import { sql } from 'drizzle-orm';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { NotificationHub } from './notifications.ts';
import type { ClockCache } from './read-cache.ts';

const JOB_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800];

/**
 * Prometheus metrics. Job and deploy figures are read from PostgreSQL at scrape time (the database is the truth, so
 * every replica reports the same fleet-wide numbers); subscriptions and the event loop are this process's own.
 */
export function createMetrics(
  database: Database,
  hub: NotificationHub,
  readCaches: Record<string, Pick<ClockCache<unknown>, 'hits'>>,
): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'slipway_server_' });

  new Gauge({
    name: 'slipway_jobs',
    help: 'Jobs by kind and state',
    labelNames: ['kind', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await database.db.execute<{ kind: string; state: string; n: number }>(
        sql`select kind, state, count(*)::int as n from jobs group by kind, state`,
      );
      for (const row of rows) this.set({ kind: row.kind, state: row.state }, row.n);
    },
  });

  new Gauge({
    name: 'slipway_log_lines_written',
    help: 'Output lines stored for all jobs',
    registers: [registry],
    async collect() {
      const [row] = await database.db.execute<{ n: number }>(sql`select count(*)::int as n from job_log_lines`);
      this.set(row?.n ?? 0);
    },
  });

  new Gauge({
    name: 'slipway_deploy_target_results',
    help: 'Per-target deploy outcomes (ok, failed, skipped) recorded so far',
    labelNames: ['outcome'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await database.db.execute<{ outcome: string; n: number }>(
        sql`select outcome, count(*)::int as n from deploy_results group by outcome`,
      );
      for (const row of rows) this.set({ outcome: row.outcome }, row.n);
    },
  });

  // Per target, from the last verification that reached it (an unreachable one changes neither).
  const verified = async () =>
    database.db.execute<{ project: string; target: string; files: number; at: number }>(sql`
      select p.name as project, t.name as target, v.drifted_count::int as files,
        extract(epoch from v.checked_at)::float8 as at
      from target_verifications v join targets t on t.id = v.target_id join projects p on p.id = t.project_id
      where v.state in ('IN_SYNC', 'DRIFTED')`);
  new Gauge({
    name: 'slipway_target_drift_files',
    help: 'Paths that differ on a target from its recorded release, as last verified (0: in sync)',
    labelNames: ['project', 'target'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await verified()) this.set({ project: row.project, target: row.target }, row.files);
    },
  });
  new Gauge({
    name: 'slipway_target_verified_timestamp_seconds',
    help: 'When a target was last verified (Unix time)',
    labelNames: ['project', 'target'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await verified()) this.set({ project: row.project, target: row.target }, row.at);
    },
  });

  new Gauge({
    name: 'slipway_environment_live_release',
    help: 'The number of the release each environment runs (v<number>)',
    labelNames: ['project', 'environment'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await database.db.execute<{ project: string; environment: string; number: number }>(sql`
        select p.name as project, e.name as environment, r.number::int as number
        from environments e join projects p on p.id = e.project_id join releases r on r.id = e.live_release_id
        where p.archived_at is null`);
      for (const row of rows) this.set({ project: row.project, environment: row.environment }, row.number);
    },
  });

  new Gauge({
    name: 'slipway_subscriptions',
    help: 'Live subscriptions (notification listeners) on this server',
    registers: [registry],
    collect() {
      this.set(hub.subscriberCount);
    },
  });

  new Counter({
    name: 'slipway_read_cache_hits_total',
    help: 'Reads this server answered from memory at the tickets read clock: whole answers (answer) and ticket pages (ticket_page)',
    labelNames: ['cache'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [cache, kept] of Object.entries(readCaches)) this.inc({ cache }, kept.hits);
    },
  });

  registry.registerMetric(
    durationHistogram(
      database,
      'slipway_job_duration_seconds',
      'Duration of finished jobs, by kind',
      'kind',
      sql`
      select kind::text as label, extract(epoch from finished_at - started_at)::float8 as seconds
      from jobs where finished_at is not null and started_at is not null`,
    ),
  );
  registry.registerMetric(
    durationHistogram(
      database,
      'slipway_deploy_target_duration_seconds',
      'Duration of each target of a deploy, by outcome',
      'outcome',
      sql`
      select outcome::text as label, duration_ms / 1000.0 as seconds from deploy_results`,
    ),
  );
  return registry;
}

/** A histogram computed in the database: cumulative bucket counts over every finished job (monotonic, like a counter). */
function durationHistogram(
  database: Database,
  name: string,
  help: string,
  labelName: string,
  rows: ReturnType<typeof sql>,
) {
  const buckets = sql.raw(JOB_BUCKETS.map((b) => `count(*) filter (where seconds <= ${b})::int as "b${b}"`).join(', '));
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'first',
    reset() {},
    async get() {
      const result = await database.db.execute<Record<string, number | string>>(sql`
        select label, count(*)::int as count, coalesce(sum(seconds), 0)::float8 as sum, ${buckets}
        from (${rows}) as durations group by label`);
      const values = result.flatMap((row) => [
        ...JOB_BUCKETS.map((b) => ({
          metricName: `${name}_bucket`,
          labels: { [labelName]: row.label as string, le: b },
          value: Number(row[`b${b}`]),
        })),
        {
          metricName: `${name}_bucket`,
          labels: { [labelName]: row.label as string, le: '+Inf' },
          value: Number(row.count),
        },
        { metricName: `${name}_sum`, labels: { [labelName]: row.label as string }, value: Number(row.sum) },
        { metricName: `${name}_count`, labels: { [labelName]: row.label as string }, value: Number(row.count) },
      ]);
      return { name, help, type: 'histogram', aggregator: 'first', values };
    },
  } as unknown as Gauge;
}

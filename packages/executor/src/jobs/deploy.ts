import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { deployResults, projects, releases, targets, tickets, users } from '@slipway/schema';
import { and, eq, max, sql } from 'drizzle-orm';
import { fingerprint } from '../fingerprint.ts';
import { projectDirs } from '../layout.ts';
import { git, gitOutput, gitSucceeds } from '../tools/git.ts';
import { rsync } from '../tools/rsync.ts';
import { run } from '../tools/run.ts';
import { type JobContext, type JobHandler, LeaseLost } from './context.ts';
import { finishWith } from './finish.ts';
import { checkedPaths } from './paths.ts';

type ReleaseRow = typeof releases.$inferSelect;
type TargetRow = typeof targets.$inferSelect;

class StagingChanged extends Error {}

const tag = (number: number) => `v${number}`;
const TRAILER = 'Slipway-Ticket';

async function ticketOfTag(ledger: string, name: string, context: JobContext): Promise<string | null> {
  if (!(await gitSucceeds(ledger, ['rev-parse', '--verify', '-q', `refs/tags/${name}`], context.run))) return null;
  return gitOutput(ledger, ['log', '-1', `--format=%(trailers:key=${TRAILER},valueonly)`, name], context.run);
}

/**
 * Rule 5: the version live now plus exactly the ticket's paths from staging, committed and tagged with the next
 * number. Safe to run again: a release already made for this ticket (in the database, or as a tag whose trailer
 * names the ticket, when a crash came between the two) is taken as it is.
 */
async function composeRelease(context: JobContext): Promise<ReleaseRow> {
  const { db, project, run: options } = context;
  const ticket = context.ticket as NonNullable<JobContext['ticket']>;
  const [existing] = await db.select().from(releases).where(eq(releases.ticketId, ticket.id));
  if (existing) {
    context.sink.system(`${tag(existing.number)} was already made for this ticket`);
    return existing;
  }
  const { ledger } = projectDirs(context.dataDir, project.id);
  const [{ last } = { last: 0 }] = await db
    .select({ last: max(releases.number) })
    .from(releases)
    .where(eq(releases.projectId, project.id));
  const number = (last ?? 0) + 1;
  const owner = await ticketOfTag(ledger, tag(number), context);
  let commit: string;
  if (owner === String(ticket.id)) {
    commit = await gitOutput(ledger, ['rev-parse', `${tag(number)}^{commit}`], options);
  } else if (owner !== null) {
    throw new Error(`the ledger already has ${tag(number)} for ticket ${owner || 'unknown'}`);
  } else {
    const [live] = await db
      .select()
      .from(releases)
      .where(eq(releases.id, project.liveReleaseId ?? 0));
    if (!live) throw new Error('the project has no live release: was it initialised?');
    await git(ledger, ['checkout', '-q', '--detach', '--force', tag(live.number)], options);
    await git(ledger, ['clean', '-q', '-d', '-x', '--force'], options);
    const paths = checkedPaths(project.stagingPath, ticket.paths);
    for (const path of paths) {
      await rm(join(ledger, path), { recursive: true, force: true });
      await mkdir(dirname(join(ledger, path)), { recursive: true });
      await run(
        'rsync',
        [
          '--archive',
          '--exclude=.svn',
          '--exclude=.git',
          '--ignore-missing-args',
          '--',
          join(project.stagingPath, path),
          `${dirname(join(ledger, path))}/`,
        ],
        options,
      );
    }
    const composed = await fingerprint(ledger, paths);
    if (composed !== ticket.testedFingerprint) {
      await git(ledger, ['checkout', '-q', '--detach', '--force', tag(live.number)], options);
      await git(ledger, ['clean', '-q', '-d', '-x', '--force'], options);
      throw new StagingChanged(
        `STAGING_CHANGED: staging no longer holds what was tested (${paths.join(', ')} changed since "pass test")`,
      );
    }
    const [author] = await db.select().from(users).where(eq(users.id, ticket.authorId));
    await git(ledger, ['add', '--all', '--force', '.'], options);
    await git(
      ledger,
      [
        'commit',
        '-q',
        '--allow-empty',
        `--author=${author?.name ?? 'unknown'} <${author?.login ?? 'unknown'}@slipway>`,
        '-m',
        ticket.reason,
        '-m',
        `${TRAILER}: ${ticket.id}`,
      ],
      options,
    );
    await git(ledger, ['tag', tag(number)], options);
    commit = await gitOutput(ledger, ['rev-parse', 'HEAD'], options);
  }
  const [release] = await db
    .insert(releases)
    .values({ projectId: project.id, number, ticketId: ticket.id, commit })
    .returning();
  if (!release) throw new Error('insert returned no row');
  await db.update(tickets).set({ releaseId: release.id }).where(eq(tickets.id, ticket.id));
  context.sink.system(`made ${tag(number)} (${commit})`);
  return release;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  });
  await Promise.all(lanes);
}

/** Checks the release out into the release tree and rsyncs it to every target; answers the failures. */
async function ship(context: JobContext, release: ReleaseRow): Promise<string[]> {
  const { db, project, job, run: options } = context;
  const { release: tree } = projectDirs(context.dataDir, project.id);
  await git(tree, ['checkout', '-q', '--detach', '--force', tag(release.number)], options);
  await git(tree, ['clean', '-q', '-d', '-x', '--force'], options);
  const all = await db.select().from(targets).where(eq(targets.projectId, project.id)).orderBy(targets.name);
  const failures: string[] = [];
  const ticketId = (context.ticket as NonNullable<JobContext['ticket']>).id;
  await inParallel(all, project.parallelism, async (target: TargetRow) => {
    const started = performance.now();
    context.sink.system(`→ ${target.name}: syncing ${tag(release.number)}`);
    let outcome: typeof deployResults.$inferInsert;
    try {
      const extra = ['--delay-updates'];
      if (project.bandwidthLimit) extra.push(`--bwlimit=${project.bandwidthLimit}`);
      const stats = await rsync(tree, target, project, project.excludes, { ...options, extra });
      outcome = {
        jobId: job.id,
        ticketId,
        targetId: target.id,
        targetName: target.name,
        outcome: 'OK',
        bytesSent: stats.bytesSent,
        filesChanged: stats.filesChanged,
        durationMs: Math.round(performance.now() - started),
      };
      context.sink.system(`✓ ${target.name}: ${stats.filesChanged} files, ${stats.bytesSent} bytes sent`);
    } catch (error) {
      if (context.signal.aborted) throw error;
      const message = (error as Error).message;
      failures.push(`${target.name}: ${message}`);
      context.sink.system(`✗ ${target.name}: ${message}`);
      outcome = {
        jobId: job.id,
        ticketId,
        targetId: target.id,
        targetName: target.name,
        outcome: 'FAILED',
        durationMs: Math.round(performance.now() - started),
        error: message,
      };
    }
    await db
      .insert(deployResults)
      .values(outcome)
      .onConflictDoUpdate({
        target: [deployResults.jobId, deployResults.targetName],
        set: { ...outcome, finishedAt: sql`now()` },
      });
  });
  return failures;
}

async function deployRelease(context: JobContext, release: ReleaseRow): Promise<void> {
  const failures = await ship(context, release);
  if (failures.length > 0) {
    await finishWith(
      context,
      { state: 'FAILED', error: failures.join('; ') },
      {
        action: 'DEPLOY_FAILED',
        comment: failures.join('\n'),
      },
    );
    return;
  }
  await finishWith(
    context,
    { state: 'SUCCEEDED' },
    { action: 'DEPLOYED', comment: `${tag(release.number)} is live`, set: { releaseId: release.id } },
    async (tx) => {
      await tx
        .update(projects)
        .set({ liveReleaseId: release.id, updatedAt: sql`now()` })
        .where(eq(projects.id, context.project.id));
    },
  );
}

function stillDeploying(context: JobContext): boolean {
  if (context.ticket?.state === 'DEPLOYING') return true;
  context.sink.system(`the ticket is ${context.ticket?.state ?? 'gone'}: nothing to deploy`);
  return false;
}

async function failDeploy(context: JobContext, error: Error): Promise<void> {
  if (error instanceof LeaseLost) throw error;
  const deploying = context.ticket?.state === 'DEPLOYING';
  if (error instanceof StagingChanged) {
    await finishWith(
      context,
      { state: 'FAILED', error: error.message },
      deploying ? { action: 'STAGING_CHANGED', comment: error.message } : undefined,
    );
    return;
  }
  await finishWith(
    context,
    { state: 'FAILED', error: error.message },
    deploying ? { action: 'DEPLOY_FAILED', comment: error.message } : undefined,
  );
}

export const deploy: JobHandler = {
  async perform(context) {
    if (!stillDeploying(context)) return finishWith(context, { state: 'SUCCEEDED' });
    const release = await composeRelease(context);
    await deployRelease(context, release);
  },
  fail: failDeploy,
};

/** A rollback ships an existing tag the same way; it makes no new tag. */
export const rollback: JobHandler = {
  async perform(context) {
    if (!stillDeploying(context)) return finishWith(context, { state: 'SUCCEEDED' });
    const [release] = await context.db
      .select()
      .from(releases)
      .where(and(eq(releases.id, context.ticket?.releaseId ?? 0), eq(releases.projectId, context.project.id)));
    if (!release) throw new Error('the release to roll back to does not exist');
    await deployRelease(context, release);
  },
  fail: failDeploy,
};

import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { deployResults, projects, releases, targets, tickets, users } from '@slipway/schema';
import { and, eq, max, sql } from 'drizzle-orm';
import { fingerprint } from '../fingerprint.ts';
import { checkHealth } from '../health.ts';
import { projectDirs } from '../layout.ts';
import { type TargetRow, targetOps } from '../targets.ts';
import { git, gitOutput, gitSucceeds } from '../tools/git.ts';
import { rsync } from '../tools/rsync.ts';
import { run } from '../tools/run.ts';
import { type JobContext, type JobHandler, LeaseLost } from './context.ts';
import { faultPoint } from './faults.ts';
import { finishWith } from './finish.ts';
import { assertNoLinkedParents, checkedPaths } from './paths.ts';

type ReleaseRow = typeof releases.$inferSelect;

class StagingChanged extends Error {}

const tag = (number: number) => `v${number}`;
const TRAILER = 'Slipway-Ticket';

async function ticketOfTag(ledger: string, name: string, context: JobContext): Promise<string | null> {
  if (!(await gitSucceeds(ledger, ['rev-parse', '--verify', '-q', `refs/tags/${name}`], context.run))) return null;
  return gitOutput(ledger, ['log', '-1', `--format=%(trailers:key=${TRAILER},valueonly)`, name], context.run);
}

export async function liveRelease(context: JobContext): Promise<ReleaseRow> {
  const [live] = await context.db
    .select()
    .from(releases)
    .where(eq(releases.id, context.project.liveReleaseId ?? 0));
  if (!live) throw new Error('the project has no live release: was it initialised?');
  return live;
}

/** Puts the ledger's work tree back to exactly `base`. */
export async function resetLedger(context: JobContext, base: string): Promise<void> {
  const { ledger } = projectDirs(context.dataDir, context.project.id);
  await git(ledger, ['checkout', '-q', '--detach', '--force', base], context.run);
  await git(ledger, ['clean', '-q', '-d', '-x', '--force'], context.run);
}

/**
 * Lays out in the ledger's work tree what a release would be: `base` plus exactly the ticket's paths as staging
 * holds them (a path gone from staging is a deletion). Answers the checked paths.
 */
export async function prepareCandidate(context: JobContext, base: string, ticketPaths: string[]): Promise<string[]> {
  const { project, run: options } = context;
  const { ledger } = projectDirs(context.dataDir, project.id);
  await resetLedger(context, base);
  const paths = checkedPaths(project.stagingPath, ticketPaths);
  await assertNoLinkedParents(project.stagingPath, paths);
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
  return paths;
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
    const live = await liveRelease(context);
    const paths = await prepareCandidate(context, tag(live.number), ticket.paths);
    const composed = await fingerprint(ledger, paths);
    if (composed !== ticket.testedFingerprint) {
      await resetLedger(context, tag(live.number));
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
    faultPoint(context, 'compose:committed');
    await git(ledger, ['tag', tag(number)], options);
    faultPoint(context, 'compose:tagged');
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

interface Outcome {
  outcome: 'OK' | 'FAILED' | 'SKIPPED';
  bytesSent?: number;
  filesChanged?: number;
  error?: string;
}

/** One deploy or rollback of one release across the project's targets (rule 8: every outcome is recorded). */
class Rollout {
  private readonly started = new Map<number, number>();
  private readonly uploaded = new Map<number, { bytesSent: number; filesChanged: number }>();
  readonly failures: string[] = [];
  readonly version: string;

  constructor(
    readonly context: JobContext,
    private readonly release: ReleaseRow,
    readonly isRollback: boolean,
  ) {
    this.version = tag(release.number);
  }

  private get project() {
    return this.context.project;
  }

  ops(target: TargetRow) {
    return targetOps(target, this.project, this.context.run);
  }

  private hookEnv(target: TargetRow, dir: string) {
    return {
      SLIPWAY_PROJECT: this.project.name,
      SLIPWAY_RELEASE: this.version,
      SLIPWAY_TARGET: target.name,
      SLIPWAY_RELEASE_DIR: dir,
    };
  }

  async hook(target: TargetRow, which: 'preDeploy' | 'postDeploy', dir: string) {
    const command = this.project[which];
    if (command) await this.ops(target).hook(command, dir, this.hookEnv(target, dir));
  }

  async health(target: TargetRow) {
    const url = this.project.healthCheckUrl;
    if (!url) return;
    await checkHealth(
      url,
      target.host ?? 'localhost',
      this.project.healthCheckTimeoutSeconds,
      this.context.sink,
      this.context.signal,
    );
  }

  begin(target: TargetRow) {
    this.started.set(target.id, performance.now());
  }

  /** Stores a target's outcome; an OK target is on this release now. */
  async record(target: TargetRow, result: Outcome) {
    const { db, job } = this.context;
    const started = this.started.get(target.id);
    const stats = this.uploaded.get(target.id);
    const row = {
      jobId: job.id,
      ticketId: (this.context.ticket as NonNullable<JobContext['ticket']>).id,
      targetId: target.id,
      targetName: target.name,
      outcome: result.outcome,
      bytesSent: result.bytesSent ?? stats?.bytesSent ?? 0,
      filesChanged: result.filesChanged ?? stats?.filesChanged ?? 0,
      durationMs: started === undefined ? 0 : Math.round(performance.now() - started),
      error: result.error ?? null,
    };
    if (result.outcome === 'FAILED') {
      this.failures.push(`${target.name}: ${result.error}`);
      this.context.sink.system(`✗ ${target.name}: ${result.error}`);
    } else if (result.outcome === 'OK') {
      this.context.sink.system(
        `✓ ${target.name}: ${this.version} (${row.filesChanged} files, ${row.bytesSent} bytes sent)`,
      );
    } else {
      this.context.sink.system(`- ${target.name}: skipped (${result.error})`);
    }
    await db.transaction(async (tx) => {
      await tx
        .insert(deployResults)
        .values(row)
        .onConflictDoUpdate({
          target: [deployResults.jobId, deployResults.targetName],
          set: { ...row, finishedAt: sql`now()` },
        });
      if (result.outcome === 'OK')
        await tx.update(targets).set({ releaseId: this.release.id }).where(eq(targets.id, target.id));
    });
  }

  async sync(target: TargetRow, tree: string, destinationPath: string, extra: string[]) {
    const project = this.project;
    if (project.bandwidthLimit) extra.push(`--bwlimit=${project.bandwidthLimit}`);
    const stats = await rsync(tree, target, project, project.excludes, { ...this.context.run, extra, destinationPath });
    this.uploaded.set(target.id, stats);
    return stats;
  }

  /** Runs `step` on each target (parallelism-limited), recording a failure; answers the targets that succeeded. */
  async each(list: TargetRow[], step: (target: TargetRow) => Promise<Outcome | null>): Promise<TargetRow[]> {
    const ok: TargetRow[] = [];
    await inParallel(list, this.project.parallelism, async (target) => {
      try {
        const result = await step(target);
        if (result) await this.record(target, result);
        ok.push(target);
      } catch (error) {
        if (this.context.signal.aborted) throw error;
        await this.record(target, { outcome: 'FAILED', error: (error as Error).message });
      }
    });
    return list.filter((t) => ok.includes(t));
  }

  async skip(list: TargetRow[], why: string) {
    for (const target of list) await this.record(target, { outcome: 'SKIPPED', error: why });
  }
}

/** In place: rsync straight into each target's path (--delay-updates); the canary batch goes first. */
async function rollInPlace(rollout: Rollout, tree: string, pending: TargetRow[], batchSize: number) {
  const step = async (target: TargetRow): Promise<Outcome> => {
    rollout.begin(target);
    await rollout.hook(target, 'preDeploy', target.path);
    const stats = await rollout.sync(target, tree, target.path, ['--delay-updates']);
    await rollout.hook(target, 'postDeploy', target.path);
    await rollout.health(target);
    return { outcome: 'OK', ...stats };
  };
  const canary = pending.slice(0, batchSize);
  const rest = pending.slice(batchSize);
  const canaryOk = await rollout.each(canary, step);
  if (canaryOk.length < canary.length) return rollout.skip(rest, 'the canary batch failed');
  await rollout.each(rest, step);
}

/**
 * Atomic: phase 1 uploads releases/vN to every target (hard-linking unchanged files to the live release);
 * phase 2 switches `current` only when every target holds it — the canary batch first (switch, hook, health),
 * then all the others at once. A target whose switch fails its hook or health check is switched back.
 */
async function rollAtomic(rollout: Rollout, tree: string, pending: TargetRow[], batchSize: number, keep: number) {
  const version = rollout.version;
  const previous = new Map<number, string | null>();
  const held = new Map<number, string[]>();
  const uploaded = await rollout.each(pending, async (target) => {
    rollout.begin(target);
    const ops = rollout.ops(target);
    const [present, current] = await Promise.all([ops.releases(), ops.current()]);
    previous.set(target.id, current);
    // What the target will hold once the upload is done: pruning after the switch needs no second listing.
    held.set(target.id, [...new Set([...present, version])]);
    const releaseDir = `${target.path}/releases/${version}`;
    if (present.includes(version) && rollout.isRollback) {
      rollout.context.sink.system(`${target.name}: ${version} is still there: no upload`);
    } else {
      const base = current && present.includes(current) ? current : newest(present.filter((r) => r !== version));
      const extra = base ? [`--link-dest=../${base}`] : [];
      await rollout.sync(target, tree, releaseDir, extra);
    }
    await rollout.hook(target, 'preDeploy', releaseDir);
    return null;
  });
  if (uploaded.length < pending.length) {
    return rollout.skip(uploaded, `not switched: ${pending.length - uploaded.length} target(s) did not get ${version}`);
  }
  const switchOne = async (target: TargetRow): Promise<Outcome> => {
    const ops = rollout.ops(target);
    await ops.switchTo(version);
    try {
      await rollout.hook(target, 'postDeploy', `${target.path}/current`);
      await rollout.health(target);
    } catch (error) {
      const back = previous.get(target.id);
      if (back) {
        rollout.context.sink.system(`${target.name}: switching back to ${back}`);
        await ops.switchTo(back);
      }
      throw error;
    }
    await pruneReleases(ops, held.get(target.id) ?? [version], version, keep);
    return { outcome: 'OK' };
  };
  const canary = uploaded.slice(0, batchSize);
  const rest = uploaded.slice(batchSize);
  faultPoint(rollout.context, 'atomic:uploaded');
  const canaryOk = await rollout.each(canary, switchOne);
  faultPoint(rollout.context, 'atomic:canary-switched');
  if (canaryOk.length < canary.length) return rollout.skip(rest, 'the canary batch failed');
  await rollout.each(rest, switchOne);
}

const releaseNumber = (name: string) => Number(name.slice(1));
const newest = (names: string[]) => names.sort((a, b) => releaseNumber(b) - releaseNumber(a))[0] ?? null;

/** Keeps the `keep` newest releases on a target, and always the live one. */
async function pruneReleases(ops: ReturnType<Rollout['ops']>, present: string[], live: string, keep: number) {
  const newestFirst = [...present].sort((a, b) => releaseNumber(b) - releaseNumber(a));
  for (const name of newestFirst.slice(keep)) if (name !== live) await ops.removeRelease(name);
}

/** Checks the release out into the release tree and rolls it out to the targets not yet on it. */
async function deployRelease(context: JobContext, release: ReleaseRow, isRollback: boolean): Promise<void> {
  const { db, project, run: options } = context;
  const { release: tree } = projectDirs(context.dataDir, project.id);
  await git(tree, ['checkout', '-q', '--detach', '--force', tag(release.number)], options);
  await git(tree, ['clean', '-q', '-d', '-x', '--force'], options);
  const all = await db.select().from(targets).where(eq(targets.projectId, project.id)).orderBy(targets.name);
  faultPoint(context, 'deploy:checked-out');
  const rollout = new Rollout(context, release, isRollback);
  const done = all.filter((t) => t.releaseId === release.id);
  await rollout.skip(done, `already on ${tag(release.number)}`);
  const pending = all.filter((t) => t.releaseId !== release.id);
  context.sink.system(
    `${project.deployMode === 'ATOMIC' ? 'atomic' : 'in-place'} ${isRollback ? 'rollback' : 'deploy'} of ${tag(release.number)} ` +
      `to ${pending.length} target(s), ${project.parallelism} at a time, canary batch of ${project.batchSize}`,
  );
  if (project.deployMode === 'ATOMIC')
    await rollAtomic(rollout, tree, pending, project.batchSize, project.keepReleases);
  else await rollInPlace(rollout, tree, pending, project.batchSize);

  faultPoint(context, 'deploy:synced');
  if (rollout.failures.length > 0) {
    await finishWith(
      context,
      { state: 'FAILED', error: rollout.failures.join('; ') },
      {
        action: 'DEPLOY_FAILED',
        comment: rollout.failures.join('\n'),
      },
    );
    return;
  }
  const wasLive = project.liveReleaseId;
  await finishWith(
    context,
    { state: 'SUCCEEDED' },
    { action: 'DEPLOYED', comment: `${tag(release.number)} is live`, set: { releaseId: release.id } },
    async (tx) => {
      await tx
        .update(projects)
        .set({ liveReleaseId: release.id, updatedAt: sql`now()` })
        .where(eq(projects.id, project.id));
      // A rollback takes the version it replaces off the targets: it is marked bad.
      if (isRollback && wasLive && wasLive !== release.id) {
        await tx.update(releases).set({ rolledBackAt: sql`now()` }).where(eq(releases.id, wasLive));
      }
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
    await deployRelease(context, release, false);
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
    await deployRelease(context, release, true);
  },
  fail: failDeploy,
};

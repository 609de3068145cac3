import {
  deploySettings,
  type EnvironmentRow,
  environments,
  failureRecord,
  projects,
  releases,
  targets,
  tickets,
  users,
} from '@slipway/schema';
import { and, asc, count, eq, max, sql } from 'drizzle-orm';
import { type ComposeResult, composeCommit } from '../compose.ts';
import { projectDirs, tag } from '../layout.ts';
import { assertRevertable, composeRevertCommit, revertedOf } from '../revert.ts';
import { checkOutLedgerTree, git, gitOutput, gitSucceeds } from '../tools/git.ts';
import { type JobContext, type JobHandler, LeaseLost } from './context.ts';
import { faultPoint } from './faults.ts';
import { finishWith } from './finish.ts';
import { assertNoLinkedParents, checkedPaths } from './paths.ts';
import { type ReleaseRow, Rollout, repairAtomic, rollAtomic, rollInPlace } from './rollout.ts';
import { verifyTargets } from './verify.ts';

class StagingChanged extends Error {}
const TRAILER = 'Slipway-Ticket';

async function ticketOfTag(ledger: string, name: string, context: JobContext): Promise<string | null> {
  if (!(await gitSucceeds(ledger, ['rev-parse', '--verify', '-q', `refs/tags/${name}`], context.run))) return null;
  return gitOutput(ledger, ['log', '-1', `--format=%(trailers:key=${TRAILER},valueonly)`, name], context.run);
}

/** The release live on the job's environment (what a release ticket builds on, what a cancel goes back to). */
export async function liveRelease(context: JobContext): Promise<ReleaseRow> {
  const [env] = await context.db
    .select({ liveReleaseId: environments.liveReleaseId })
    .from(environments)
    .where(eq(environments.id, context.environment?.id ?? 0));
  const [live] = await context.db
    .select()
    .from(releases)
    .where(eq(releases.id, env?.liveReleaseId ?? 0));
  if (!live) throw new Error('the environment has no live release: was the project initialised?');
  return live;
}

/** Puts the ledger's work tree back to exactly `base`. */
export async function resetLedger(context: JobContext, base: string): Promise<void> {
  const { ledger } = projectDirs(context.dataDir, context.project.id);
  await git(ledger, ['checkout', '-q', '--detach', '--force', base], context.run);
  await git(ledger, ['clean', '-q', '-d', '-x', '--force'], context.run);
}

/**
 * What a release of the ticket would be, written to `ref` in the ledger: `base` plus exactly the ticket's paths as
 * staging holds them (a path gone from staging is a deletion). Nothing is written when staging no longer has the
 * `expected` fingerprint (rule 4).
 */
export async function composeCandidate(
  context: JobContext,
  base: string,
  ref: string,
  expected: string | null,
): Promise<ComposeResult> {
  const { db, project } = context;
  const ticket = context.ticket as NonNullable<JobContext['ticket']>;
  if (ticket.kind === 'REVERT') return composeRevert(context, base, ref);
  const paths = checkedPaths(project.stagingPath, ticket.paths);
  await assertNoLinkedParents(project.stagingPath, paths);
  const [author] = await db.select().from(users).where(eq(users.id, ticket.authorId));
  return composeCommit(
    {
      ledger: projectDirs(context.dataDir, project.id).ledger,
      base,
      root: project.stagingPath,
      paths,
      ref,
      author: { name: author?.name ?? 'unknown', email: `${author?.login ?? 'unknown'}@slipway` },
      message: `${ticket.reason}\n\n${TRAILER}: ${ticket.id}\n`,
      expectedFingerprint: expected,
    },
    context.run,
  );
}

/**
 * A revert's release: `base` (what runs now) with the reverted ticket's paths as they were before its release —
 * checked first against the ledger (the reverted release is part of what runs, nothing since touched its paths).
 */
async function composeRevert(context: JobContext, base: string, ref: string): Promise<ComposeResult> {
  const { db, project, run: options } = context;
  const ticket = context.ticket as NonNullable<JobContext['ticket']>;
  const reverted = await revertedOf(db, ticket);
  const { ledger } = projectDirs(context.dataDir, project.id);
  await assertRevertable(ledger, reverted, await liveRelease(context), options);
  const version = tag(reverted.release.number);
  const [author] = await db.select().from(users).where(eq(users.id, ticket.authorId));
  const commit = await composeRevertCommit(
    {
      ledger,
      base,
      from: await gitOutput(ledger, ['rev-parse', `${version}^{commit}^`], options),
      paths: checkedPaths(project.stagingPath, reverted.ticket.paths),
      ref,
      author: { name: author?.name ?? 'unknown', email: `${author?.login ?? 'unknown'}@slipway` },
      message: `${ticket.reason}\n\nUndoes #${reverted.ticket.id} (${version}).\n\n${TRAILER}: ${ticket.id}\n`,
    },
    options,
  );
  return { written: true, commit };
}

/**
 * Rule 5: the version live now plus exactly the ticket's paths from staging, committed and tagged with the next
 * number. Safe to run again: a release already made for this ticket (in the database, or as a tag whose trailer
 * names the ticket, when a crash came between the two) is taken as it is.
 */
async function composeRelease(context: JobContext, timer: StepTimer): Promise<ReleaseRow> {
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
    // A ticket without a tested fingerprint matches nothing: it cannot be released.
    const tested = ticket.testedFingerprint ?? 'never tested';
    const composed = await composeCandidate(context, live.commit, `refs/tags/${tag(number)}`, tested);
    if (!composed.written) {
      throw new StagingChanged(
        `STAGING_CHANGED: staging no longer holds what was tested (${ticket.paths.join(', ')} changed since "pass test")`,
      );
    }
    faultPoint(context, 'compose:committed');
    faultPoint(context, 'compose:tagged');
    commit = composed.commit;
    timer.lap('compose, commit and tag');
  }
  const [release] = await db
    .insert(releases)
    .values({ projectId: project.id, number, ticketId: ticket.id, commit })
    .returning();
  if (!release) throw new Error('insert returned no row');
  await db.update(tickets).set({ releaseId: release.id }).where(eq(tickets.id, ticket.id));
  context.sink.system(`made ${tag(number)} (${commit})`);
  timer.lap('record');
  return release;
}

/** How long each step of a job took, said in one line at the end (the fixed part of a deploy, measured). */
export class StepTimer {
  private readonly steps: [string, number][] = [];
  private last = performance.now();

  lap(step: string): void {
    const now = performance.now();
    this.steps.push([step, now - this.last]);
    this.last = now;
  }

  toString(): string {
    return this.steps.map(([step, ms]) => `${step} ${Math.round(ms)} ms`).join(', ');
  }
}

type Shipping = 'DEPLOY' | 'PROMOTE' | 'ROLLBACK' | 'REPAIR' | 'REVERT';

/**
 * Checks the release out into the release tree (when a target needs files) and rolls it out to the targets not on it;
 * a repair, to the targets it names (they are on it, but hold something else), every file compared by checksum.
 */
async function deployRelease(
  context: JobContext,
  release: ReleaseRow,
  kind: Shipping,
  timer: StepTimer,
): Promise<void> {
  const isRollback = kind === 'ROLLBACK';
  const { db, project, run: options } = context;
  const dirs = projectDirs(context.dataDir, project.id);
  let checkedOut: Promise<string> | null = null;
  // Only a target that needs files needs the tree: an atomic rollback is switches alone.
  const tree = () => {
    checkedOut ??= (async () => {
      await checkOutLedgerTree(dirs.ledger, dirs.release, tag(release.number), options);
      faultPoint(context, 'deploy:checked-out');
      return dirs.release;
    })();
    return checkedOut;
  };
  const environment = context.environment as EnvironmentRow;
  const settings = deploySettings(project, environment);
  // The targets of the ticket's environment: a promotion or rollback of one environment touches no other.
  const all = await db
    .select()
    .from(targets)
    .where(and(eq(targets.projectId, project.id), eq(targets.environmentId, environment.id)))
    .orderBy(asc(targets.position), asc(targets.name));
  const repair = kind === 'REPAIR';
  const payload = context.job.payload as { fullSync?: boolean; deleteUnknown?: boolean };
  const fullSync = repair || payload.fullSync === true;
  const rollout = new Rollout(context, release, {
    isRollback: kind === 'ROLLBACK' || kind === 'REPAIR' || kind === 'REVERT',
    fullSync,
    checksum: repair,
    deleteUnknown: payload.deleteUnknown === true,
    ledger: dirs.ledger,
    tree,
  });
  const repairing = new Set(context.ticket?.repairTargetIds ?? []);
  let pending: typeof all;
  if (repair) {
    pending = all.filter((t) => repairing.has(t.id));
  } else if (kind === 'REVERT') {
    // Only the targets the failed deploy got to go back; the others never left the live version.
    const took = context.ticket?.releaseId ?? null;
    pending = all.filter((t) => took !== null && t.releaseId === took);
    await rollout.skip(
      all.filter((t) => !pending.includes(t)),
      `still on ${tag(release.number)}`,
    );
  } else {
    await rollout.skip(
      all.filter((t) => t.releaseId === release.id),
      `already on ${tag(release.number)}`,
    );
    pending = all.filter((t) => t.releaseId !== release.id);
  }
  context.sink.system(
    `${project.deployMode === 'ATOMIC' ? 'atomic' : 'in-place'} ${kind.toLowerCase()} of ${tag(release.number)} ` +
      `to ${pending.length} target(s) of ${environment.name}, ${settings.parallelism} at a time` +
      (repair ? ': every file compared by checksum' : `, canary batch of ${settings.batchSize}`),
  );
  if (repair && project.deployMode === 'ATOMIC') await repairAtomic(rollout, pending, project.keepReleases);
  else if (repair) await rollInPlace(rollout, pending, pending.length);
  else if (project.deployMode === 'ATOMIC')
    await rollAtomic(rollout, pending, settings.batchSize, project.keepReleases);
  else await rollInPlace(rollout, pending, settings.batchSize);
  timer.lap('targets');
  if (repair && rollout.failures.length === 0) {
    // What the repair leaves is checked at once: the drift view clears (or says what is still wrong).
    const after = await verifyTargets(context, pending);
    const still = [...after.values()].filter((v) => v.state !== 'IN_SYNC').length;
    if (still > 0)
      rollout.failures.push(`${still} target(s) still differ from ${tag(release.number)} after the repair`);
    timer.lap('verify');
  }

  faultPoint(context, 'deploy:synced');
  if (kind === 'REVERT') {
    context.sink.system(`timing: ${timer}`);
    if (rollout.failures.length > 0) {
      // The ticket stays DEPLOY_FAILED: cancelling again tries once more.
      await finishWith(context, { state: 'FAILED', error: rollout.failures.join('; ') });
      return;
    }
    await finishWith(
      context,
      { state: 'SUCCEEDED' },
      {
        action: 'REVERTED',
        message: pending.length
          ? {
              key: 'REVERTED',
              params: { targets: pending.map((t) => t.name).join(', '), version: tag(release.number) },
            }
          : { key: 'REVERTED_NOTHING', params: {} },
      },
    );
    return;
  }
  if (rollout.failures.length > 0) {
    context.sink.system(`timing: ${timer}`);
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
  context.sink.system(`timing: ${timer}`);
  const named = await namedEnvironment(context);
  const version = tag(release.number);
  // A rollback says what it went back from (the chat and the audit say "rolled back", not "is live").
  const [replaced] =
    isRollback && environment.liveReleaseId
      ? await db.select({ number: releases.number }).from(releases).where(eq(releases.id, environment.liveReleaseId))
      : [];
  const from = replaced && replaced.number !== release.number ? tag(replaced.number) : null;
  await finishWith(
    context,
    { state: 'SUCCEEDED' },
    {
      action: 'DEPLOYED',
      message: repair
        ? { key: 'RESTORED', params: { version, targets: pending.map((t) => t.name).join(', ') } }
        : from
          ? named
            ? { key: 'ROLLED_BACK_ON', params: { version, from, environment: named } }
            : { key: 'ROLLED_BACK', params: { version, from } }
          : named
            ? { key: 'LIVE_ON', params: { version, environment: named } }
            : { key: 'LIVE', params: { version } },
      set: { releaseId: release.id, replacedReleaseId: environment.liveReleaseId },
    },
    async (tx) => {
      const [was] = await tx
        .select({ liveReleaseId: environments.liveReleaseId })
        .from(environments)
        .where(eq(environments.id, environment.id))
        .for('update');
      await tx.update(environments).set({ liveReleaseId: release.id }).where(eq(environments.id, environment.id));
      await tx.update(projects).set({ updatedAt: sql`now()` }).where(eq(projects.id, project.id));
      // A rollback takes the version it replaces off the environment: it is marked bad (and goes no further).
      if (isRollback && was?.liveReleaseId && was.liveReleaseId !== release.id) {
        await tx.update(releases).set({ rolledBackAt: sql`now()` }).where(eq(releases.id, was.liveReleaseId));
      }
    },
  );
}

/** The environment's name, for what a deploy says, when the project has more than one (else it reads as before). */
async function namedEnvironment(context: JobContext): Promise<string | null> {
  const [{ n } = { n: 0 }] = await context.db
    .select({ n: count() })
    .from(environments)
    .where(eq(environments.projectId, context.project.id));
  return n > 1 ? (context.environment?.name ?? null) : null;
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
    deploying ? { action: 'DEPLOY_FAILED', ...failureRecord(error) } : undefined,
  );
}

export const deploy: JobHandler = {
  async perform(context) {
    if (!stillDeploying(context)) return finishWith(context, { state: 'SUCCEEDED' });
    const timer = new StepTimer();
    const release = await composeRelease(context, timer);
    await deployRelease(context, release, 'DEPLOY', timer);
  },
  fail: failDeploy,
};

/** A job that ships a release the ledger has (the ticket's): no new tag. */
function shipExisting(kind: 'PROMOTE' | 'ROLLBACK' | 'REPAIR'): JobHandler {
  return {
    async perform(context) {
      if (!stillDeploying(context)) return finishWith(context, { state: 'SUCCEEDED' });
      const [release] = await context.db
        .select()
        .from(releases)
        .where(and(eq(releases.id, context.ticket?.releaseId ?? 0), eq(releases.projectId, context.project.id)));
      if (!release)
        throw new Error(
          `the release to ${kind === 'ROLLBACK' ? 'roll back to' : kind === 'PROMOTE' ? 'promote' : 'restore'} does not exist`,
        );
      await deployRelease(context, release, kind, new StepTimer());
    },
    fail: failDeploy,
  };
}

/**
 * Cancelling a failed deploy: the live release goes back to the targets that took the ticket's new one (a rollback
 * of those targets alone), then the ticket is CANCELLED. A failure leaves it DEPLOY_FAILED.
 */
export const revert: JobHandler = {
  async perform(context) {
    if (context.ticket?.state !== 'DEPLOY_FAILED') {
      context.sink.system(`the ticket is ${context.ticket?.state ?? 'gone'}: nothing to cancel`);
      return finishWith(context, { state: 'SUCCEEDED' });
    }
    await deployRelease(context, await liveRelease(context), 'REVERT', new StepTimer());
  },
  async fail(context, error) {
    if (error instanceof LeaseLost) throw error;
    await finishWith(context, { state: 'FAILED', error: error.message });
  },
};

/** A rollback ships an earlier tag the way a deploy ships a new one. */
export const rollback = shipExisting('ROLLBACK');

/** A promotion ships the tag its environment's predecessor ran, byte for byte: nothing recomposed, no new tag. */
export const promote = shipExisting('PROMOTE');

/** A repair ships the live release again, in full and by checksum, to the drifted targets it names. */
export const repair = shipExisting('REPAIR');

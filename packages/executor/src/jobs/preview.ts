import { deployPreviews, deploySettings, releases, targets } from '@slipway/schema';
import { and, asc, eq } from 'drizzle-orm';
import { projectDirs } from '../layout.ts';
import { inParallel } from '../parallel.ts';
import { TargetShell } from '../targets.ts';
import { git } from '../tools/git.ts';
import { itemizedChanges, rsync } from '../tools/rsync.ts';
import { shippingExcludes } from '../transfer.ts';
import type { JobContext, JobHandler } from './context.ts';
import { composeCandidate, liveRelease, resetLedger } from './deploy.ts';
import { finishWith } from './finish.ts';
import { plannedDeletions, TransferPlanner } from './rollout.ts';

/** Where a preview's candidate release is written (and removed again): never a tag. */
const PREVIEW_REF = 'refs/slipway/preview';

/** Unknown files kept per target by a check (the count is kept whole). */
const MAX_UNKNOWN_ITEMS = 1000;

export interface PreviewPayload {
  fullSync?: boolean;
  /**
   * `UNKNOWN_FILES`: only whether the deploy would delete files no release put there (the server asks before it
   * starts one): targets that get the changed files only are not contacted, and a full sync's dry run compares nothing.
   */
  check?: 'UNKNOWN_FILES';
}

/** The tree a deploy of the ticket would ship: its release when it has one, else the candidate made from staging. */
async function treeToShip(context: JobContext): Promise<{ commit: string; releaseId: number | null }> {
  const { db, ticket } = context;
  if (!ticket) throw new Error('a preview needs a ticket');
  if (ticket.releaseId) {
    const [release] = await db
      .select()
      .from(releases)
      .where(and(eq(releases.id, ticket.releaseId), eq(releases.projectId, context.project.id)));
    if (!release) throw new Error(`the ticket's release ${ticket.releaseId} does not exist`);
    return { commit: release.commit, releaseId: release.id };
  }
  // The release as it would be made, on a scratch ref (made the way the deploy makes it).
  const live = await liveRelease(context);
  const candidate = await composeCandidate(context, live.commit, PREVIEW_REF, null);
  if (!candidate.written) throw new Error('the candidate release could not be made');
  return { commit: candidate.commit, releaseId: null };
}

/**
 * previewDeploy: what a deploy would change on each target, decided the way the deploy decides. A target that would
 * get only the changed files is shown the ledger's diff from its version; one that would get a full sync is asked by
 * rsync (--dry-run, contents compared by checksum, so a file whose time alone differs is no change) against what it
 * serves (atomic: `current`). A deletion of a file no release put there is marked `unknown`. With `check:
 * UNKNOWN_FILES`, only those are looked for (see PreviewPayload).
 */
export const preview: JobHandler = {
  async perform(context) {
    const { db, project, ticket } = context;
    if (!ticket) throw new Error('a preview needs a ticket');
    const payload = context.job.payload as PreviewPayload;
    const checkOnly = payload.check === 'UNKNOWN_FILES';
    const { ledger } = projectDirs(context.dataDir, project.id);
    const repair = ticket.kind === 'REPAIR';
    const ship = await treeToShip(context);
    const planner = new TransferPlanner(context, ledger, ship.commit, repair || payload.fullSync === true, !checkOnly);
    // A full sync is asked of rsync: the tree to ship is laid out in the ledger's work tree for it, once.
    let laidOut: Promise<void> | null = null;
    const layOut = () => {
      laidOut ??= resetLedger(context, ship.commit);
      return laidOut;
    };
    try {
      // The targets of the ticket's environment.
      const all = await db
        .select()
        .from(targets)
        .where(and(eq(targets.projectId, project.id), eq(targets.environmentId, ticket.environmentId)))
        .orderBy(asc(targets.position), asc(targets.name));
      const repairing = new Set(ticket.repairTargetIds ?? []);
      // The targets the deploy would work on: a repair's, else those not on its release yet.
      const pending = repair
        ? all.filter((t) => repairing.has(t.id))
        : all.filter((t) => ship.releaseId === null || t.releaseId !== ship.releaseId);
      await inParallel(pending, deploySettings(project, context.environment).parallelism, async (target) => {
        let row: typeof deployPreviews.$inferInsert;
        const base = { jobId: context.job.id, targetName: target.name };
        try {
          const plan = await planner.plan(target);
          if (plan.transfer === 'INCREMENTAL') {
            // Only paths of releases change: never an unknown file.
            const items = checkOnly ? [] : plan.diff.changes.map((c) => ({ ...c, unknown: false }));
            row = { ...base, items, transfer: 'INCREMENTAL' };
          } else {
            await layOut();
            const shell = new TargetShell(target, context.ssh, context.connections, context.run);
            const controlPath = await shell.controlPath();
            const atomic = project.deployMode === 'ATOMIC';
            const root = atomic
              ? repair
                ? `${target.path}/releases/v${await releaseNumber(context, ticket.releaseId)}`
                : `${target.path}/current`
              : target.path;
            if (checkOnly) {
              const { unknown } = await plannedDeletions(context, planner, target, ledger, root, shell);
              row = {
                ...base,
                items: unknown.slice(0, MAX_UNKNOWN_ITEMS).map((path) => ({ path, change: 'DELETED', unknown: true })),
                unknownCount: unknown.length,
                transfer: 'FULL',
              };
            } else {
              const { output } = await rsync(ledger, target, context.ssh, shippingExcludes(project), {
                ...context.run,
                extra: ['--dry-run', '--checksum'],
                destinationPath: root,
                controlPath,
              });
              const changes = itemizedChanges(output);
              const unknown = new Set(
                await planner.unknownOf(
                  target,
                  changes.filter((c) => c.change === 'DELETED').map((c) => c.path),
                ),
              );
              row = {
                ...base,
                items: changes.map((c) => ({ ...c, unknown: unknown.has(c.path) })),
                unknownCount: unknown.size,
                transfer: 'FULL',
              };
            }
          }
        } catch (error) {
          if (context.signal.aborted) throw error;
          row = { ...base, items: [], error: (error as Error).message };
        }
        await db
          .insert(deployPreviews)
          .values(row)
          .onConflictDoUpdate({ target: [deployPreviews.jobId, deployPreviews.targetName], set: row });
      });
    } finally {
      if (ship.releaseId === null)
        await git(ledger, ['update-ref', '-d', PREVIEW_REF], { ...context.run, quietStdout: true });
    }
    await finishWith(context, { state: 'SUCCEEDED' });
  },
  async fail(context, error) {
    await finishWith(context, { state: 'FAILED', error: error.message });
  },
};

async function releaseNumber(context: JobContext, releaseId: number | null): Promise<number> {
  const [release] = await context.db
    .select({ number: releases.number })
    .from(releases)
    .where(eq(releases.id, releaseId ?? 0));
  if (!release) throw new Error('the release to restore does not exist');
  return release.number;
}

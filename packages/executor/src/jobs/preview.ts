import { deployPreviews, releases, targets } from '@slipway/schema';
import { asc, eq } from 'drizzle-orm';
import { projectDirs } from '../layout.ts';
import { TargetShell } from '../targets.ts';
import { git } from '../tools/git.ts';
import { itemizedChanges, rsync } from '../tools/rsync.ts';
import type { JobHandler } from './context.ts';
import { composeCandidate, liveRelease, resetLedger } from './deploy.ts';
import { finishWith } from './finish.ts';
import { TransferPlanner } from './rollout.ts';

/** Where a preview's candidate release is written (and removed again): never a tag. */
const PREVIEW_REF = 'refs/slipway/preview';

/**
 * previewDeploy: what a deploy would change on each target, decided the way the deploy decides. A target that would
 * get only the changed files is shown the ledger's diff from its version; one that would get a full sync is asked by
 * rsync (--dry-run, contents compared by checksum, so a file whose time alone differs is no change) against what it
 * serves (atomic: `current`).
 */
export const preview: JobHandler = {
  async perform(context) {
    const { db, project, ticket } = context;
    if (!ticket) throw new Error('a preview needs a ticket');
    const live = await liveRelease(context);
    const { ledger } = projectDirs(context.dataDir, project.id);
    let to: string;
    if (ticket.kind === 'ROLLBACK') {
      const [target] = await db
        .select()
        .from(releases)
        .where(eq(releases.id, ticket.releaseId ?? 0));
      if (!target) throw new Error('the release to roll back to does not exist');
      to = target.commit;
    } else {
      // The release as it would be made, on a scratch ref (made the way the deploy makes it).
      const candidate = await composeCandidate(context, live.commit, PREVIEW_REF, null);
      if (!candidate.written) throw new Error('the candidate release could not be made');
      to = candidate.commit;
    }
    const fullSync = (context.job.payload as { fullSync?: boolean }).fullSync === true;
    const planner = new TransferPlanner(context, ledger, to, fullSync);
    // A full sync is asked of rsync: the candidate is laid out in the ledger's work tree for it, once.
    let laidOut: Promise<void> | null = null;
    const layOut = () => {
      laidOut ??= resetLedger(context, to);
      return laidOut;
    };
    try {
      const all = await db
        .select()
        .from(targets)
        .where(eq(targets.projectId, project.id))
        .orderBy(asc(targets.position), asc(targets.name));
      for (const target of all) {
        let row: typeof deployPreviews.$inferInsert;
        try {
          const plan = await planner.plan(target);
          if (plan.transfer === 'INCREMENTAL') {
            row = { jobId: context.job.id, targetName: target.name, items: plan.diff.changes, transfer: 'INCREMENTAL' };
          } else {
            await layOut();
            const shell = new TargetShell(target, project, context.connections, context.run);
            const { output } = await rsync(ledger, target, project, project.excludes, {
              ...context.run,
              extra: ['--dry-run', '--checksum'],
              destinationPath: project.deployMode === 'ATOMIC' ? `${target.path}/current` : target.path,
              controlPath: await shell.controlPath(),
            });
            row = { jobId: context.job.id, targetName: target.name, items: itemizedChanges(output), transfer: 'FULL' };
          }
        } catch (error) {
          if (context.signal.aborted) throw error;
          row = { jobId: context.job.id, targetName: target.name, items: [], error: (error as Error).message };
        }
        await db
          .insert(deployPreviews)
          .values(row)
          .onConflictDoUpdate({
            target: [deployPreviews.jobId, deployPreviews.targetName],
            set: row,
          });
      }
    } finally {
      await git(ledger, ['update-ref', '-d', PREVIEW_REF], { ...context.run, quietStdout: true });
    }
    await finishWith(context, { state: 'SUCCEEDED' });
  },
  async fail(context, error) {
    await finishWith(context, { state: 'FAILED', error: error.message });
  },
};

import { deployPreviews, releases, targets } from '@slipway/schema';
import { eq } from 'drizzle-orm';
import { projectDirs } from '../layout.ts';
import { rsync } from '../tools/rsync.ts';
import type { JobHandler } from './context.ts';
import { liveRelease, prepareCandidate, resetLedger } from './deploy.ts';
import { finishWith } from './finish.ts';

export interface PreviewItem {
  path: string;
  change: 'ADDED' | 'MODIFIED' | 'DELETED';
}

/** Reads rsync's --itemize-changes lines: what would be created, updated or deleted (unchanged entries left out). */
export function parseItemized(output: string): PreviewItem[] {
  const items: PreviewItem[] = [];
  for (const line of output.split('\n')) {
    const deleting = /^\*deleting\s+(.+)$/.exec(line);
    if (deleting?.[1]) {
      items.push({ path: deleting[1], change: 'DELETED' });
      continue;
    }
    const item = /^([<>ch.*][fdLDS])(\S{9})\s(.+)$/.exec(line);
    if (!item?.[3]) continue;
    const [, kind, flags] = item;
    if (kind?.[0] === '.' || kind?.[1] === 'd') {
      if (flags === '+++++++++') items.push({ path: item[3], change: 'ADDED' });
      continue;
    }
    items.push({ path: item[3], change: flags === '+++++++++' ? 'ADDED' : 'MODIFIED' });
  }
  return items;
}

/** previewDeploy: lays out the release as it would be and asks rsync, with --dry-run, what it would change. */
export const preview: JobHandler = {
  async perform(context) {
    const { db, project, ticket } = context;
    if (!ticket) throw new Error('a preview needs a ticket');
    const live = await liveRelease(context);
    const { ledger } = projectDirs(context.dataDir, project.id);
    if (ticket.kind === 'ROLLBACK') {
      const [target] = await db
        .select()
        .from(releases)
        .where(eq(releases.id, ticket.releaseId ?? 0));
      if (!target) throw new Error('the release to roll back to does not exist');
      await resetLedger(context, `v${target.number}`);
    } else {
      await prepareCandidate(context, `v${live.number}`, ticket.paths);
    }
    try {
      const all = await db.select().from(targets).where(eq(targets.projectId, project.id)).orderBy(targets.name);
      for (const target of all) {
        const destinationPath = project.deployMode === 'ATOMIC' ? `${target.path}/current` : target.path;
        let row: typeof deployPreviews.$inferInsert;
        try {
          const { output } = await rsync(ledger, target, project, project.excludes, {
            ...context.run,
            extra: ['--dry-run'],
            destinationPath,
          });
          row = { jobId: context.job.id, targetName: target.name, items: parseItemized(output) };
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
      await resetLedger(context, `v${live.number}`);
    }
    await finishWith(context, { state: 'SUCCEEDED' });
  },
  async fail(context, error) {
    await finishWith(context, { state: 'FAILED', error: error.message });
  },
};

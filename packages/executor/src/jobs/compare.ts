import { jobs, releases } from '@slipway/schema';
import { and, eq, inArray } from 'drizzle-orm';
import { compareTags } from '../changes.ts';
import { projectDirs, tag } from '../layout.ts';
import type { JobHandler } from './context.ts';
import { finishWith } from './finish.ts';

/** COMPARE: what turns one release of the project into another (files and diffs), stored as the job's result. */
export const compare: JobHandler = {
  async perform(context) {
    const { fromReleaseId, toReleaseId } = context.job.payload as { fromReleaseId: number; toReleaseId: number };
    const found = await context.db
      .select()
      .from(releases)
      .where(and(eq(releases.projectId, context.project.id), inArray(releases.id, [fromReleaseId, toReleaseId])));
    const from = found.find((r) => r.id === fromReleaseId);
    const to = found.find((r) => r.id === toReleaseId);
    if (!from || !to) throw new Error('one of the releases to compare no longer exists');
    const { ledger } = projectDirs(context.dataDir, context.project.id);
    const changes = await compareTags(ledger, tag(from.number), tag(to.number), context.run);
    context.sink.system(`${tag(from.number)} → ${tag(to.number)}: ${changes.length} file(s) differ`);
    await finishWith(context, { state: 'SUCCEEDED' }, undefined, async (tx) => {
      await tx.update(jobs).set({ result: { fromReleaseId, toReleaseId, changes } }).where(eq(jobs.id, context.job.id));
    });
  },
  async fail(context, error) {
    await finishWith(context, { state: 'FAILED', error: error.message });
  },
};

import {
  deploySettings,
  notifyChannels,
  notifyWebhooks,
  releases,
  targets,
  targetVerifications,
} from '@slipway/schema';
import { and, asc, eq, inArray } from 'drizzle-orm';
import { type Verification, VerifyTree, verifyTarget } from '../drift.ts';
import { projectDirs, tag } from '../layout.ts';
import { inParallel } from '../parallel.ts';
import { type TargetRow, TargetShell } from '../targets.ts';
import { shippingExcludes } from '../transfer.ts';
import type { JobContext, JobHandler } from './context.ts';
import { finishWith } from './finish.ts';

/** The project's verification tree (a work tree of the ledger holding the tag targets are compared with). */
export function verifyTreeOf(context: JobContext): VerifyTree {
  const dirs = projectDirs(context.dataDir, context.project.id);
  return new VerifyTree(dirs.ledger, dirs.verify, context.run);
}

/** Compares one target with a release of the project (see verifyTarget), over the job's connection to it. */
export function verifyOne(
  context: JobContext,
  tree: VerifyTree,
  target: TargetRow,
  expected: { releaseId: number; tag: string },
): Promise<Verification> {
  const { project } = context;
  const shell = new TargetShell(target, context.ssh, context.connections, context.run);
  const settings = { deployMode: project.deployMode, excludes: shippingExcludes(project), ...context.ssh };
  return tree.with(expected.tag, (dir) => verifyTarget(target, expected, dir, shell, settings, context.run));
}

function describe(result: Verification, tag: string | null): string {
  if (result.state === 'IN_SYNC') return `✓ ${tag}: in sync`;
  if (result.state === 'UNKNOWN') return `- ${result.error}`;
  if (result.state === 'UNREACHABLE') return `? unreachable: ${result.error}`;
  const count = (kind: string) => result.drifted.filter((d) => d.change === kind).length;
  const kinds = `${count('ADDED')} added, ${count('MODIFIED')} modified, ${count('DELETED')} deleted`;
  return `✗ drifted from ${tag}: ${result.driftedCount} path(s) (${kinds}${(result.driftedCount ?? 0) > result.drifted.length ? ' among the first listed' : ''})${result.error ? `; ${result.error}` : ''}`;
}

/**
 * Verifies targets against the release each is recorded on, `parallelism` at a time, and records what was found
 * (a target Slipway never deployed to is UNKNOWN). Answers the results by target id.
 */
export async function verifyTargets(context: JobContext, list: TargetRow[]): Promise<Map<number, Verification>> {
  const { db, project } = context;
  const tags = new Map(
    (
      await db
        .select({ id: releases.id, number: releases.number })
        .from(releases)
        .where(eq(releases.projectId, project.id))
    ).map((r) => [r.id, tag(r.number)]),
  );
  const tree = verifyTreeOf(context);
  const results = new Map<number, Verification>();
  // Targets on the same release side by side: the tree is checked out once per release.
  const ordered = [...list].sort((a, b) => (a.releaseId ?? 0) - (b.releaseId ?? 0) || a.name.localeCompare(b.name));
  await inParallel(ordered, deploySettings(project, context.environment).parallelism, async (target) => {
    const expected = target.releaseId ? tags.get(target.releaseId) : undefined;
    const result: Verification =
      target.releaseId && expected
        ? await verifyOne(context, tree, target, { releaseId: target.releaseId, tag: expected })
        : {
            targetId: target.id,
            releaseId: null,
            state: 'UNKNOWN',
            drifted: [],
            driftedCount: 0,
            error: 'not verified: Slipway has not deployed to it yet',
            checkedAt: new Date(),
          };
    context.sink.system(`${target.name}: ${describe(result, expected ?? null)}`);
    results.set(target.id, result);
  });
  await recordVerifications(context, [...results.values()]);
  return results;
}

/**
 * Stores verifications (the last one per target) and tells the project's webhooks when a target starts or stops
 * drifting (`drift.detected`, `drift.resolved`), in one transaction.
 */
export async function recordVerifications(context: JobContext, results: Verification[]): Promise<void> {
  if (results.length === 0) return;
  const { db, project, job } = context;
  await db.transaction(async (tx) => {
    const before = new Map(
      (
        await tx
          .select({ targetId: targetVerifications.targetId, state: targetVerifications.state })
          .from(targetVerifications)
          .where(
            inArray(
              targetVerifications.targetId,
              results.map((r) => r.targetId),
            ),
          )
          .for('update')
      ).map((r) => [r.targetId, r.state]),
    );
    for (const result of results) {
      const row = { ...result, jobId: job.id };
      await tx
        .insert(targetVerifications)
        .values(row)
        .onConflictDoUpdate({ target: targetVerifications.targetId, set: row });
    }
    for (const result of results) {
      const was = before.get(result.targetId);
      const event =
        result.state === 'DRIFTED' && was !== 'DRIFTED'
          ? 'drift.detected'
          : result.state === 'IN_SYNC' && was === 'DRIFTED'
            ? 'drift.resolved'
            : null;
      if (!event) continue;
      const drift = { event, targetId: result.targetId, verifyJobId: job.id };
      await notifyChannels(tx, project.id, event === 'drift.detected' ? 'DRIFT_DETECTED' : 'DRIFT_RESOLVED', { drift });
      await notifyWebhooks(tx, project.id, event === 'drift.detected' ? 'DRIFT_DETECTED' : 'DRIFT_RESOLVED', { drift });
    }
  });
}

/** VERIFY: every target of the project compared with its recorded release. Finding drift is not a failure. */
export const verify: JobHandler = {
  async perform(context) {
    // Every target of the project, or of the environment the verification names.
    const environmentId = context.environment?.id;
    const all = await context.db
      .select()
      .from(targets)
      .where(
        and(
          eq(targets.projectId, context.project.id),
          environmentId ? eq(targets.environmentId, environmentId) : undefined,
        ),
      )
      .orderBy(asc(targets.position), asc(targets.name));
    context.sink.system(
      `verifying ${all.length} target(s)${context.environment ? ` of ${context.environment.name}` : ''} against their recorded release, ${deploySettings(context.project, context.environment).parallelism} at a time`,
    );
    const results = [...(await verifyTargets(context, all)).values()];
    const count = (state: Verification['state']) => results.filter((r) => r.state === state).length;
    context.sink.system(
      `${count('IN_SYNC')} in sync, ${count('DRIFTED')} drifted, ${count('UNREACHABLE')} unreachable, ${count('UNKNOWN')} not deployed to yet`,
    );
    await finishWith(context, { state: 'SUCCEEDED' });
  },
  async fail(context, error) {
    await finishWith(context, { state: 'FAILED', error: error.message });
  },
};

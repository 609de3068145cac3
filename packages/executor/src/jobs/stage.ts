import { lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EventFailure, type EventMessage, eventSentence, failureRecord, ticketChanges } from '@slipway/schema';
import { eq } from 'drizzle-orm';
import { compareTags, computeChanges } from '../changes.ts';
import { fingerprint } from '../fingerprint.ts';
import { projectDirs, tag } from '../layout.ts';
import { revertedOf } from '../revert.ts';
import { reindexPaths } from '../staging-index.ts';
import { git, gitOutput, gitRemote, gitSucceeds } from '../tools/git.ts';
import { svnUpdate } from '../tools/svn.ts';
import type { JobContext, JobHandler } from './context.ts';
import { composeCandidate, liveRelease } from './deploy.ts';
import { finishWith } from './finish.ts';
import { assertNoLinkedParents, checkedPaths } from './paths.ts';

/** git source: fetches the project's branch into the staging clone (FETCH_HEAD), signed in as the project says. */
export async function fetchBranch(context: JobContext): Promise<void> {
  const { project } = context;
  await gitRemote(
    project.stagingPath,
    ['fetch', '--no-tags', 'origin', '--', project.branch ?? 'main'],
    context.run,
    context.sourceAuth,
    project.sourceCaFile,
  );
}

/** git source: bring the ticket's paths to the branch head (added, changed or deleted); answers the commit. */
async function gitStage(context: JobContext, paths: string[]): Promise<string> {
  const { project, run: options } = context;
  const staging = project.stagingPath;
  const branch = project.branch ?? 'main';
  await fetchBranch(context);
  const commit = await gitOutput(staging, ['rev-parse', '--verify', 'FETCH_HEAD^{commit}'], options);
  for (const path of paths) {
    if (await gitSucceeds(staging, ['cat-file', '-e', `${commit}:${path}`], options)) {
      await rm(join(staging, path), { recursive: true, force: true });
      await git(staging, ['checkout', commit, '--', path], options);
    } else if (await gitSucceeds(staging, ['cat-file', '-e', `HEAD:${path}`], options)) {
      context.sink.system(`${path} was deleted on ${branch}`);
      await git(staging, ['rm', '-r', '-q', '--cached', '--ignore-unmatch', '--', path], options);
      await rm(join(staging, path), { recursive: true, force: true });
    } else {
      throw new EventFailure({ key: 'NOT_ON_BRANCH', params: { path, branch } });
    }
  }
  return commit;
}

/**
 * A revert ticket is "staged" in the ledger, not from the source: its release is composed (on a scratch ref, as the
 * deploy will compose it) and what it changes against what runs now becomes its changes, for the approver to read.
 */
async function prepareRevert(context: JobContext): Promise<void> {
  const ticket = context.ticket as NonNullable<JobContext['ticket']>;
  const { ledger } = projectDirs(context.dataDir, context.project.id);
  const live = await liveRelease(context);
  const ref = `refs/slipway/revert/${ticket.id}`;
  const composed = await composeCandidate(context, live.commit, ref, null);
  if (!composed.written) throw new Error('the revert could not be composed');
  const changes = await compareTags(ledger, live.commit, composed.commit, context.run);
  await git(ledger, ['update-ref', '-d', ref], context.run);
  const reverted = await revertedOf(context.db, ticket);
  const message: EventMessage = {
    key: 'REVERT_PREPARED',
    params: {
      ticket: String(reverted.ticket.id),
      version: tag(reverted.release.number),
      count: String(changes.length),
    },
  };
  context.sink.system(eventSentence('EN', message));
  await finishWith(context, { state: 'SUCCEEDED' }, { action: 'PREPARED', message }, async (tx) => {
    await tx.delete(ticketChanges).where(eq(ticketChanges.ticketId, ticket.id));
    if (changes.length > 0) await tx.insert(ticketChanges).values(changes.map((c) => ({ ...c, ticketId: ticket.id })));
  });
}

export const stage: JobHandler = {
  async perform(context) {
    const { ticket, project } = context;
    if (ticket?.state !== 'PENDING_STAGING') {
      context.sink.system(`the ticket is ${ticket?.state ?? 'gone'}: nothing to stage`);
      await finishWith(context, { state: 'SUCCEEDED' });
      return;
    }
    if (ticket.kind === 'REVERT') return prepareRevert(context);
    const paths = checkedPaths(project.stagingPath, ticket.paths);
    // Before (nothing outside the working copy is touched) and after (the update may have made a link) the update.
    await assertNoLinkedParents(project.stagingPath, paths);
    const revision =
      project.sourceType === 'SVN'
        ? await svnUpdate(project.stagingPath, paths, { ...project, auth: context.sourceAuth }, context.run)
        : await gitStage(context, paths);
    await assertNoLinkedParents(project.stagingPath, paths);
    // The path suggestions follow what the update brought (or took away).
    await reindexPaths(context.db, project.id, project.stagingPath, paths);
    const stagedFingerprint = await fingerprint(project.stagingPath, paths);
    const live = await liveRelease(context);
    const { ledger } = projectDirs(context.dataDir, project.id);
    const changes = await computeChanges(project.stagingPath, ledger, `v${live.number}`, paths, context.run);
    // A path in neither the source nor the live version is a typo (e.g. "www/ index.html"): say so, not "0 files".
    for (const path of paths) {
      const staged = await lstat(join(project.stagingPath, path)).then(
        () => true,
        () => false,
      );
      if (!staged && !(await gitSucceeds(ledger, ['cat-file', '-e', `v${live.number}:${path}`], context.run)))
        throw new EventFailure({ key: 'PATH_NOT_FOUND', params: { path, version: `v${live.number}` } });
    }
    // A ticket whose paths are as they are live is said to change nothing, before anyone spends a test on it.
    const unchanged = changes.length === 0;
    const message: EventMessage = unchanged
      ? {
          key: project.sourceType === 'SVN' ? 'STAGED_REVISION_UNCHANGED' : 'STAGED_COMMIT_UNCHANGED',
          params: { revision, version: `v${live.number}` },
        }
      : { key: project.sourceType === 'SVN' ? 'STAGED_REVISION' : 'STAGED_COMMIT', params: { revision } };
    context.sink.system(
      `staged ${eventSentence('EN', message)}: ${changes.length} file(s) differ from v${live.number}`,
    );
    await finishWith(
      context,
      { state: 'SUCCEEDED' },
      {
        action: 'STAGED',
        message,
        set: { stagedRevision: revision, stagedFingerprint },
      },
      async (tx) => {
        await tx.delete(ticketChanges).where(eq(ticketChanges.ticketId, ticket.id));
        if (changes.length > 0)
          await tx.insert(ticketChanges).values(changes.map((c) => ({ ...c, ticketId: ticket.id })));
      },
    );
  },
  async fail(context, error) {
    const staging = context.ticket?.state === 'PENDING_STAGING';
    await finishWith(
      context,
      { state: 'FAILED', error: error.message },
      staging ? { action: 'STAGING_FAILED', ...failureRecord(error) } : undefined,
    );
  },
};

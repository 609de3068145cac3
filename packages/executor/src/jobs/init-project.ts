import { access, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EventFailure, projects, releases, setBaseline } from '@slipway/schema';
import { and, eq, sql } from 'drizzle-orm';
import { projectDirs } from '../layout.ts';
import { indexStaging } from '../staging-index.ts';
import { git, gitClone, gitOutput, gitSucceeds } from '../tools/git.ts';
import { run } from '../tools/run.ts';
import { svnCheckout, svnInfoItem, svnRelocate } from '../tools/svn.ts';
import type { JobContext, JobHandler } from './context.ts';
import { finishWith } from './finish.ts';
import { fetchBranch } from './stage.ts';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

async function isEmptyOrMissing(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length === 0;
  } catch {
    return true;
  }
}

/** Checks out the staging copy, or checks that the one there is of the right source, and brings it up to date. */
async function prepareStaging(context: JobContext): Promise<void> {
  const { project, run: options } = context;
  const staging = project.stagingPath;
  if (project.sourceType === 'SVN') {
    if (await exists(join(staging, '.svn'))) {
      const url = await svnInfoItem(staging, 'url', options);
      // The source moved (a new server, https instead of svn://): the working copy follows it, when it is the same
      // repository (svn refuses another one, saying so).
      if (url !== project.sourceUrl.replace(/\/$/, ''))
        await svnRelocate(staging, project.sourceUrl, { ...project, auth: context.sourceAuth }, options);
      return;
    }
    if (!(await isEmptyOrMissing(staging))) throw new Error(`${staging} exists and is not an svn working copy`);
    try {
      await svnCheckout(project.sourceUrl, staging, { ...project, auth: context.sourceAuth }, options);
    } catch (error) {
      // A checkout that failed (a wrong password) leaves nothing half made for the next attempt to mistake.
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    return;
  }
  const branch = project.branch ?? 'main';
  if (await exists(join(staging, '.git'))) {
    // A new remote, or a new branch: the clone follows them (its tree becomes the branch's head).
    const url = await gitOutput(staging, ['remote', 'get-url', 'origin'], options);
    if (url !== project.sourceUrl) await git(staging, ['remote', 'set-url', 'origin', project.sourceUrl], options);
    const current = await gitOutput(staging, ['rev-parse', '--abbrev-ref', 'HEAD'], options);
    if (current !== branch) {
      await fetchBranch(context);
      await git(staging, ['checkout', '-q', '-B', branch, 'FETCH_HEAD'], options);
    }
    return;
  }
  if (!(await isEmptyOrMissing(staging))) throw new Error(`${staging} exists and is not a git working copy`);
  await gitClone(project.sourceUrl, branch, staging, options, context.sourceAuth, project.sourceCaFile);
}

/** The ledger: a git repository whose tag v0 is the staging tree as it was when the project was created. */
async function prepareLedger(context: JobContext): Promise<string> {
  const { project, run: options } = context;
  const dirs = projectDirs(context.dataDir, project.id);
  await mkdir(dirs.ledger, { recursive: true });
  if (!(await exists(join(dirs.ledger, '.git')))) await git(dirs.ledger, ['init', '-q'], options);
  if (!(await gitSucceeds(dirs.ledger, ['rev-parse', '--verify', '-q', 'refs/tags/v0'], options))) {
    await run(
      'rsync',
      ['--archive', '--delete', '--exclude=.svn', '--exclude=.git', '--', `${project.stagingPath}/`, `${dirs.ledger}/`],
      options,
    );
    await git(dirs.ledger, ['add', '--all', '--force', '.'], options);
    await git(dirs.ledger, ['commit', '-q', '--allow-empty', '-m', `v0: baseline of ${project.sourceUrl}`], options);
    await git(dirs.ledger, ['tag', 'v0'], options);
  }
  if (!(await exists(join(dirs.release, '.git')))) {
    await git(dirs.ledger, ['worktree', 'prune'], options);
    await git(dirs.ledger, ['worktree', 'add', '--detach', dirs.release, 'v0'], options);
  }
  return gitOutput(dirs.ledger, ['rev-parse', 'v0^{commit}'], options);
}

export const initProject: JobHandler = {
  async perform(context) {
    await prepareStaging(context);
    const listed = await indexStaging(context.db, context.project.id, context.project.stagingPath);
    context.sink.system(`the staging copy holds ${listed} files and directories`);
    const commit = await prepareLedger(context);
    context.sink.system(`the staging copy is ready; v0 is ${commit}`);
    await finishWith(context, { state: 'SUCCEEDED' }, undefined, async (tx) => {
      await tx.insert(releases).values({ projectId: context.project.id, number: 0, commit }).onConflictDoNothing();
      // Releases are permanent: a ledger rebuilt with another baseline cannot take the recorded v0's place.
      const [baseline] = await tx
        .select()
        .from(releases)
        .where(and(eq(releases.projectId, context.project.id), eq(releases.number, 0)));
      if (baseline?.commit !== commit)
        throw new Error(`the ledger's v0 is ${commit}, but v0 was recorded as ${baseline?.commit}`);
      await tx
        .update(projects)
        .set({ ready: true, initError: null, initFailure: null, updatedAt: sql`now()` })
        .where(eq(projects.id, context.project.id));
      // The baseline is what every environment runs until its first deploy (what the first release builds on).
      if (baseline) await setBaseline(tx, context.project.id, baseline.id);
    });
  },
  async fail(context, error) {
    // A failure Slipway can say in words of its own keeps its key (the console says it in the admin's language) and
    // the command's output below the sentence.
    const text = error instanceof EventFailure ? error.withOutput : error.message;
    await finishWith(context, { state: 'FAILED', error: text }, undefined, async (tx) => {
      await tx
        .update(projects)
        .set({ initError: text, initFailure: error instanceof EventFailure ? error.eventMessage : null })
        .where(eq(projects.id, context.project.id));
    });
  },
};

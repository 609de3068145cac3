import { stat } from 'node:fs/promises';
import { deployResults, deploySettings, releases, targets } from '@slipway/schema';
import { eq, inArray, sql } from 'drizzle-orm';
import type { VerifyTree } from '../drift.ts';
import { checkHealth } from '../health.ts';
import { tag } from '../layout.ts';
import { inParallel } from '../parallel.ts';
import { type Hook, type TargetRow, TargetShell } from '../targets.ts';
import { gitOutput } from '../tools/git.ts';
import { ITEMIZED_LOG_LIMIT, itemizedChanges, type RsyncOptions, type RsyncStats, rsync } from '../tools/rsync.ts';
import { CommandFailed } from '../tools/run.ts';
import { diffTrees, excludeMatcher, type PathChange, shippingExcludes, type TreeDiff } from '../transfer.ts';
import type { JobContext } from './context.ts';
import { faultPoint } from './faults.ts';
import { recordVerifications, verifyOne, verifyTreeOf } from './verify.ts';

export type ReleaseRow = typeof releases.$inferSelect;

/** How a target gets the release: only the files the ledger says changed since its version, or everything. */
export type Plan =
  | { transfer: 'INCREMENTAL'; from: string; diff: TreeDiff }
  | { transfer: 'FULL'; why: string; versionUnknown: boolean; checksum: boolean };

interface Outcome {
  outcome: 'OK' | 'FAILED' | 'SKIPPED';
  bytesSent?: number;
  filesChanged?: number;
  error?: string;
}

/** What a target received: recorded with its outcome. */
interface Upload extends RsyncStats {
  transfer: 'INCREMENTAL' | 'FULL' | null;
  changes: PathChange[] | null;
}

/** Changes kept per target result (the count is kept whole). */
const MAX_RECORDED_CHANGES = 1000;

export interface RolloutOptions {
  /** A rollback or a repair ships a release the ledger has (no upload phase of its own; hooks run at the switch). */
  isRollback: boolean;
  /** Every file to every target, whatever their version (deployTicket(fullSync: true), or the project's setting). */
  fullSync: boolean;
  /** Files are compared by content, not size and time (a repair: a drifted file may keep its size and time). */
  checksum?: boolean;
  /** A full sync may delete unknown files (put there by no release); else a target that has some is refused. */
  deleteUnknown?: boolean;
  /** The ledger (for the diffs) and the release tree (the source of every sync), checked out on first need. */
  ledger: string;
  tree: () => Promise<string>;
}

/** One deploy or rollback of one release across the project's targets (rule 8: every outcome is recorded). */
export class Rollout {
  private readonly started = new Map<number, number>();
  private readonly uploads = new Map<number, Upload>();
  private readonly shells = new Map<number, TargetShell>();
  private readonly planner: TransferPlanner;
  readonly failures: string[] = [];
  readonly version: string;

  constructor(
    readonly context: JobContext,
    readonly release: ReleaseRow,
    readonly options: RolloutOptions,
  ) {
    this.version = tag(release.number);
    this.planner = new TransferPlanner(context, options.ledger, this.version, options.fullSync);
  }

  get project() {
    return this.context.project;
  }

  /** How the job's environment deploys (its own settings where it has them, else the project's). */
  get settings() {
    return deploySettings(this.context.project, this.context.environment);
  }

  get log() {
    return this.context.sink;
  }

  /**
   * Atomic: whether targets keep a spare link copy of their live release for the next deploy (see TargetShell):
   * not when the project excludes paths (what a target keeps there comes along as it is at the deploy).
   */
  get spares(): boolean {
    return this.project.excludes.length === 0;
  }

  shell(target: TargetRow): TargetShell {
    let shell = this.shells.get(target.id);
    if (!shell) {
      shell = new TargetShell(target, this.context.ssh, this.context.connections, this.context.run);
      this.shells.set(target.id, shell);
    }
    return shell;
  }

  hook(target: TargetRow, which: 'preDeploy' | 'postDeploy', dir: string): Hook | null {
    const command = this.settings[which];
    if (!command) return null;
    return {
      command,
      env: {
        SLIPWAY_PROJECT: this.project.name,
        SLIPWAY_RELEASE: this.version,
        SLIPWAY_TARGET: target.name,
        SLIPWAY_RELEASE_DIR: dir,
      },
    };
  }

  async health(target: TargetRow) {
    const url = this.settings.healthCheckUrl;
    if (!url) return;
    await checkHealth(
      url,
      target.host ?? 'localhost',
      this.project.healthCheckTimeoutSeconds,
      this.context.sink,
      this.context.signal,
    );
  }

  diffFrom(base: string): Promise<TreeDiff> {
    return this.planner.diffFrom(base);
  }

  /** Every file of the release as added (what a copy to an empty path changes), excludes left out. */
  everyFile(): Promise<PathChange[]> {
    return this.planner.everyFile();
  }

  /**
   * Before a sync that deletes what the release lacks at `root` (a full sync, a repair): refuses the target, changing
   * nothing, when that would delete unknown files — unless the deploy was asked to (deleteUnknown).
   */
  async guardUnknown(target: TargetRow, root: string): Promise<void> {
    if (this.options.deleteUnknown) return;
    const [source] = await Promise.all([this.options.tree(), this.shell(target).controlPath()]);
    const { unknown } = await plannedDeletions(this.context, this.planner, target, source, root, this.shell(target));
    if (unknown.length > 0) throw new UnknownFiles(target.name, unknown);
  }

  plan(target: TargetRow): Promise<Plan> {
    return this.planner.plan(target);
  }

  tagOf(releaseId: number): Promise<string | undefined> {
    return this.planner.tagOf(releaseId);
  }

  /** rsync from the release tree to a target, over the job's connection to it. */
  async sync(
    target: TargetRow,
    { checksum, ...options }: RsyncOptions & { checksum?: boolean },
  ): Promise<RsyncStats & { output: string }> {
    const extra = [...(options.extra ?? [])];
    if (this.project.bandwidthLimit) extra.push(`--bwlimit=${this.project.bandwidthLimit}`);
    // Every file compared by content: on every target of a repair, or on a target that drifted from its base.
    if (checksum || this.options.checksum) extra.push('--checksum');
    // The release tree (checked out once per job) and the target's connection (once per target) are made together.
    const [source, controlPath] = await Promise.all([this.options.tree(), this.shell(target).controlPath()]);
    return rsync(source, target, this.context.ssh, shippingExcludes(this.project), {
      ...this.context.run,
      ...options,
      extra,
      controlPath,
    });
  }

  uploaded(target: TargetRow, upload: Upload) {
    this.uploads.set(target.id, upload);
  }

  begin(target: TargetRow) {
    this.started.set(target.id, performance.now());
  }

  /** Stores a target's outcome; an OK target is on this release now. */
  async record(target: TargetRow, result: Outcome) {
    const { db, job } = this.context;
    const started = this.started.get(target.id);
    const upload = this.uploads.get(target.id);
    const changes = result.outcome === 'OK' ? (upload?.changes ?? null) : null;
    const row = {
      jobId: job.id,
      ticketId: (this.context.ticket as NonNullable<JobContext['ticket']>).id,
      targetId: target.id,
      targetName: target.name,
      outcome: result.outcome,
      bytesSent: result.bytesSent ?? upload?.bytesSent ?? 0,
      filesChanged: result.filesChanged ?? upload?.filesChanged ?? 0,
      durationMs: started === undefined ? 0 : Math.round(performance.now() - started),
      error: result.error ?? null,
      transfer: upload?.transfer ?? null,
      changes: changes?.slice(0, MAX_RECORDED_CHANGES) ?? null,
      changesCount: changes?.length ?? null,
    };
    if (result.outcome === 'FAILED') {
      this.failures.push(`${target.name}: ${result.error}`);
      this.log.system(`✗ ${target.name}: ${result.error}`);
    } else if (result.outcome === 'OK') {
      this.log.system(
        `✓ ${target.name}: ${this.version} (${row.transfer ? `${row.transfer.toLowerCase()}, ` : ''}${row.filesChanged} files, ${row.bytesSent} bytes sent)`,
      );
    } else {
      this.log.system(`- ${target.name}: skipped (${result.error})`);
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

  /** Runs `step` on each target (parallelism-limited), recording a failure; answers the targets that succeeded. */
  async each(list: TargetRow[], step: (target: TargetRow) => Promise<Outcome | null>): Promise<TargetRow[]> {
    const ok: TargetRow[] = [];
    await inParallel(list, this.settings.parallelism, async (target) => {
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

  /** Marks targets as on this release without touching them (they are already). */
  async markCurrent(list: TargetRow[]) {
    if (list.length === 0) return;
    await this.context.db
      .update(targets)
      .set({ releaseId: this.release.id })
      .where(
        inArray(
          targets.id,
          list.map((t) => t.id),
        ),
      );
  }
}

/**
 * Decides how each target gets a tree of the ledger (`to`: a tag or a commit): only
 * the files changed since the version the target is recorded on, or everything — and says which and why in the log.
 * Deploys and previews decide alike, so a preview lists what the deploy will change.
 */
export class TransferPlanner {
  private readonly diffs = new Map<string, Promise<TreeDiff>>();
  private readonly files = new Map<string, Promise<Set<string>>>();
  private releaseTags: Promise<Map<number, string>> | null = null;
  private everyFileOfTo: Promise<PathChange[]> | null = null;
  private verifyTree: VerifyTree | null = null;

  constructor(
    private readonly context: JobContext,
    private readonly ledger: string,
    private readonly to: string,
    private readonly fullSync: boolean,
    /** With the project's verifyBeforeDeploy, whether a target is verified before it is planned (not in a quick check). */
    private readonly verifyFirst = true,
  ) {}

  /** The files (and links) of a release of the ledger: what Slipway put on a target that holds it. */
  releaseFiles(ref: string): Promise<Set<string>> {
    let files = this.files.get(ref);
    if (!files) {
      files = gitOutput(this.ledger, ['ls-tree', '-r', '-z', '--name-only', ref], {
        ...this.context.run,
        quietStdout: true,
      }).then((listing) => new Set(listing.split('\0').filter(Boolean)));
      this.files.set(ref, files);
    }
    return files;
  }

  /**
   * Of paths a sync would delete on a target, those no release put there (unknown files): every one of them on a
   * target Slipway has not deployed to, else those the release it is recorded on does not have.
   */
  async unknownOf(target: TargetRow, deleted: string[]): Promise<string[]> {
    const recorded = target.releaseId ? await this.tagOf(target.releaseId) : undefined;
    const known = recorded ? await this.releaseFiles(recorded) : new Set<string>();
    const shipped = await this.releaseFiles(this.to);
    return deleted.filter((path) => !known.has(path) && !rsyncLeftover(path, shipped));
  }

  /** Every file of `to`, as added: the changes of a copy to an empty path (the shipping excludes left out; once). */
  everyFile(): Promise<PathChange[]> {
    this.everyFileOfTo ??= this.releaseFiles(this.to).then((files) => {
      const excluded = excludeMatcher(shippingExcludes(this.context.project));
      const changes: PathChange[] = [];
      for (const path of files) if (!excluded(path)) changes.push({ path, change: 'ADDED' });
      return changes;
    });
    return this.everyFileOfTo;
  }

  /** The changes from a release of the ledger to `to` (computed once per base). */
  diffFrom(base: string): Promise<TreeDiff> {
    let diff = this.diffs.get(base);
    if (!diff) {
      diff = diffTrees(this.ledger, base, this.to, shippingExcludes(this.context.project), this.context.run);
      this.diffs.set(base, diff);
    }
    return diff;
  }

  /** The tag of each of the project's releases, by id (to name the version a target is recorded on). */
  tagOf(releaseId: number): Promise<string | undefined> {
    this.releaseTags ??= this.context.db
      .select({ id: releases.id, number: releases.number })
      .from(releases)
      .where(eq(releases.projectId, this.context.project.id))
      .then((rows) => new Map(rows.map((r) => [r.id, tag(r.number)])));
    return this.releaseTags.then((tags) => tags.get(releaseId));
  }

  async plan(target: TargetRow): Promise<Plan> {
    const log = this.context.sink;
    const full = (why: string, versionUnknown = false, checksum = false): Plan => {
      log.system(`${target.name}: full sync (${why})`);
      return { transfer: 'FULL', why, versionUnknown, checksum };
    };
    if (this.fullSync) return full('a full sync was asked for');
    if (this.context.project.alwaysFullSync) return full('the project always syncs in full');
    const from = target.releaseId ? await this.tagOf(target.releaseId) : undefined;
    if (!from || !target.releaseId) return full('its version is not known: Slipway has not deployed to it yet', true);
    if (this.context.project.verifyBeforeDeploy && this.verifyFirst) {
      // Changed files only is right on a target that holds exactly `from`: checked first, by checksum.
      this.verifyTree ??= verifyTreeOf(this.context);
      const found = await verifyOne(this.context, this.verifyTree, target, { releaseId: target.releaseId, tag: from });
      await recordVerifications(this.context, [found]);
      if (found.state === 'UNREACHABLE') throw new Error(`could not verify it before the deploy: ${found.error}`);
      if (found.state === 'DRIFTED') {
        const what = found.error ?? `${found.driftedCount} path(s) differ from it`;
        return full(`it has drifted from ${from} (${what}): every file compared by checksum`, false, true);
      }
      log.system(`${target.name}: verified: it holds ${from} exactly`);
    }
    const diff = await this.diffFrom(from);
    log.system(
      `${target.name}: changed files only, from ${from} (${describe(diff.changes)}${diff.emptied.length ? `, ${diff.emptied.length} dir(s) removed` : ''})`,
    );
    return { transfer: 'INCREMENTAL', from, diff };
  }
}

function describe(changes: PathChange[]): string {
  const count = (kind: PathChange['change']) => changes.filter((c) => c.change === kind).length;
  return `${count('ADDED')} added, ${count('MODIFIED')} modified, ${count('DELETED')} deleted`;
}

const NOTHING: RsyncStats = { bytesSent: 0, filesChanged: 0 };

/** The files an in-place or linked sync sends for a diff: everything but deletions (in place: deletions too). */
const pathsOf = (changes: PathChange[], withDeletions: boolean) =>
  changes.filter((c) => withDeletions || c.change !== 'DELETED').map((c) => c.path);

/**
 * Whether a copy of every file to an empty place has rsync itemize them, when the ledger lists them anyway: only for
 * the job log, which shows the first ITEMIZED_LOG_LIMIT lines of each target. A small release shows every file that
 * went; a big one (10,000 files) would send, print and read back 10,000 lines to show 200 of them.
 */
export function itemizeFirstCopy(files: PathChange[]): boolean {
  return files.length <= ITEMIZED_LOG_LIMIT.lines;
}

/** What an in-place sync of one target knows before it changes anything there (see rollInPlace). */
interface InPlaceStart {
  plan: Plan;
  /** The path is missing or empty (a first deploy): files go straight in. */
  empty: boolean;
}

/**
 * The part of an in-place sync that changes nothing on the target: its connection opened, its plan made, whether its
 * path is empty, and — for a full sync — the refusal of one that would delete unknown files.
 */
async function startInPlace(rollout: Rollout, target: TargetRow): Promise<InPlaceStart> {
  const shell = rollout.shell(target);
  const plan = await rollout.plan(target);
  const empty = plan.transfer === 'FULL' && plan.versionUnknown && (await shell.isEmpty());
  // A full sync deletes what the release lacks: refused before anything runs when that includes unknown files.
  if (plan.transfer === 'FULL' && !empty) await rollout.guardUnknown(target, target.path);
  else await shell.controlPath();
  return { plan, empty };
}

/**
 * In place: rsync straight into each target's path (--delay-updates); the canary batch goes first. While it runs, the
 * first targets after it get their start (startInPlace: nothing changes there), so they begin with their files.
 */
export async function rollInPlace(rollout: Rollout, pending: TargetRow[], batchSize: number) {
  const starts = new Map<number, Promise<InPlaceStart>>();
  const start = (target: TargetRow) => {
    let started = starts.get(target.id);
    if (!started) {
      started = startInPlace(rollout, target);
      // A target whose start failed fails when its turn comes (or is skipped with the rest when the canary fails).
      started.catch(() => undefined);
      starts.set(target.id, started);
    }
    return started;
  };
  const step = async (target: TargetRow): Promise<Outcome> => {
    rollout.begin(target);
    const shell = rollout.shell(target);
    const { plan, empty } = await start(target);
    const preDeploy = rollout.hook(target, 'preDeploy', target.path);
    if (preDeploy) await shell.hook('preDeploy', preDeploy, target.path);
    const postDeploy = rollout.hook(target, 'postDeploy', target.path);
    if (plan.transfer === 'INCREMENTAL') {
      const { changes, emptied } = plan.diff;
      const files = pathsOf(changes, false);
      const deleted = changes.filter((c) => c.change === 'DELETED').map((c) => c.path);
      // Deletions come after the new files are in: over ssh in the sync's own round trip when the lists fit.
      const inline = target.host && files.length > 0 ? shell.inPlaceCommand(deleted, emptied) : null;
      const stats =
        files.length > 0
          ? await rollout.sync(target, { files, extra: ['--delay-updates'], rsyncPath: inline ?? undefined })
          : NOTHING;
      rollout.uploaded(target, { ...NOTHING, ...stats, transfer: 'INCREMENTAL', changes });
      if (inline) {
        if (postDeploy) await shell.hook('postDeploy', postDeploy, target.path);
      } else await shell.finishInPlace(deleted, emptied, postDeploy);
    } else {
      // --delay-updates keeps a live site whole while files arrive; on an empty target it only costs (a rename each).
      if (empty) rollout.log.system(`${target.name}: the path is empty: files go straight in`);
      // To an empty path every file of the release is added: the ledger lists them (see itemizeFirstCopy).
      const everyFile = empty ? await rollout.everyFile() : null;
      const stats = await rollout.sync(target, {
        extra: empty ? [] : ['--delay-updates'],
        checksum: plan.checksum,
        itemize: everyFile === null || itemizeFirstCopy(everyFile),
      });
      rollout.uploaded(target, { ...stats, transfer: 'FULL', changes: everyFile ?? itemizedChanges(stats.output) });
      if (postDeploy) await shell.hook('postDeploy', postDeploy, target.path);
    }
    await rollout.health(target);
    return { outcome: 'OK' };
  };
  const canary = pending.slice(0, batchSize);
  const rest = pending.slice(batchSize);
  // Every target gets files (but one with deletions alone): the release tree is checked out while connections open.
  if (pending.length > 0) rollout.options.tree().catch(() => undefined);
  const canaryDone = rollout.each(canary, step);
  for (const target of rest.slice(0, rollout.settings.parallelism)) void start(target);
  const canaryOk = await canaryDone;
  if (canaryOk.length < canary.length) {
    // Nothing of the job goes on after it: the starts still under way finish (they change nothing) first.
    await Promise.allSettled(starts.values());
    return rollout.skip(rest, 'the canary batch failed');
  }
  await rollout.each(rest, step);
}

/** Which of a wrapped upload's reasons to stop (see TargetShell.linkedUploadCommand) a failure carries. */
function stoppedBecause(error: unknown): 'present' | 'nobase' | null {
  if (!(error instanceof CommandFailed)) return null;
  if (error.reports.includes('@@slipway:present')) return 'present';
  if (error.reports.includes('@@slipway:nobase')) return 'nobase';
  return null;
}

/**
 * Atomic, phase 1 on one target: makes `releases/.vN.tmp` — a hard-link copy of the release the target is on with only
 * the changed files sent (over ssh: in the upload's own round trip), or a full upload hard-linking what is unchanged —
 * and, when the project has a preDeploy hook, makes it `releases/vN` and runs the hook in it. Without a hook the switch
 * does the renaming (one round trip fewer).
 */
async function upload(rollout: Rollout, target: TargetRow): Promise<void> {
  const { version } = rollout;
  const shell = rollout.shell(target);
  const plan = await rollout.plan(target);
  const destinationPath = `${target.path}/releases/.${version}.tmp`;
  const present = () => {
    rollout.log.system(`${target.name}: ${version} is there already: nothing to upload`);
    rollout.uploaded(target, { ...NOTHING, transfer: null, changes: null });
  };
  let full = plan.transfer === 'FULL';
  if (plan.transfer === 'INCREMENTAL') {
    const remove = pathsOf(plan.diff.changes, true);
    const files = pathsOf(plan.diff.changes, false);
    const inline =
      target.host && files.length > 0
        ? shell.linkedUploadCommand(version, plan.from, remove, plan.diff.emptied, rollout.spares)
        : null;
    let outcome: 'sent' | 'present' | 'nobase';
    if (inline) {
      try {
        const stats = await rollout.sync(target, { files, destinationPath, rsyncPath: inline });
        rollout.uploaded(target, { ...stats, transfer: 'INCREMENTAL', changes: plan.diff.changes });
        outcome = 'sent';
      } catch (error) {
        const why = stoppedBecause(error);
        if (!why) throw error;
        outcome = why;
      }
    } else {
      const state = await shell.prepareRelease(version, plan.from, remove, plan.diff.emptied, rollout.spares);
      outcome = state.marks.has('present') ? 'present' : state.marks.has('linked') ? 'sent' : 'nobase';
      if (outcome === 'sent') {
        const stats = files.length > 0 ? await rollout.sync(target, { files, destinationPath }) : NOTHING;
        rollout.uploaded(target, { ...NOTHING, ...stats, transfer: 'INCREMENTAL', changes: plan.diff.changes });
      }
    }
    if (outcome === 'present') present();
    if (outcome === 'nobase') {
      rollout.log.system(`${target.name}: full sync (releases/${plan.from} is not on the target)`);
      full = true;
    }
  }
  if (full) {
    // What `current` holds and the new release lacks leaves the site with the switch: unknown files are refused.
    await rollout.guardUnknown(target, `${target.path}/current`);
    // Unchanged files become hard links to the release the target is recorded on (rsync skips a missing one).
    const recorded = target.releaseId ? await rollout.tagOf(target.releaseId) : undefined;
    const extra = recorded && recorded !== version ? [`--link-dest=../${recorded}`] : [];
    // The change is what the ledger says: against the release the target served, or, on a target Slipway has not
    // deployed to, every file of the release (the upload is a directory of its own); what rsync itemized when the
    // ledger cannot say (the recorded release is not in it).
    const ledger = await (recorded ? rollout.diffFrom(recorded).then((d) => d.changes) : rollout.everyFile()).catch(
      () => null,
    );
    // What rsync sent over a base is worth its lines (the files a drifted target got back); a first copy's, see
    // itemizeFirstCopy.
    const itemize = recorded !== undefined || ledger === null || itemizeFirstCopy(ledger);
    try {
      const stats = await rollout.sync(target, {
        // A drifted base: a file there is linked only when its content is the release's.
        checksum: plan.transfer === 'FULL' && plan.checksum,
        destinationPath,
        extra,
        rsyncPath: target.host ? shell.fullUploadCommand(version) : undefined,
        itemize,
      });
      rollout.uploaded(target, { ...stats, transfer: 'FULL', changes: ledger ?? itemizedChanges(stats.output) });
    } catch (error) {
      if (stoppedBecause(error) !== 'present') throw error;
      present();
    }
  }
  const preDeploy = rollout.hook(target, 'preDeploy', `${target.path}/releases/${version}`);
  if (preDeploy) await shell.finishRelease(version, preDeploy, rollout.project.sharedPaths);
}

/** Atomic, phase 2 on one target: the switch (with its hooks and pruning), the health check, back if it fails. */
async function switchOne(rollout: Rollout, target: TargetRow, keep: number, uploaded = false): Promise<Outcome> {
  const { version } = rollout;
  const shell = rollout.shell(target);
  const hooks = {
    // A rollback uploads nothing: its preDeploy hook runs in the release just before the switch.
    preDeploy: rollout.options.isRollback
      ? rollout.hook(target, 'preDeploy', `${target.path}/releases/${version}`)
      : null,
    postDeploy: rollout.hook(target, 'postDeploy', `${target.path}/current`),
  };
  // A deploy's upload may still be named releases/.vN.tmp: the switch makes it vN first.
  const report = await shell.switchTo(
    version,
    hooks,
    keep,
    uploaded || !rollout.options.isRollback,
    rollout.spares,
    rollout.project.sharedPaths,
  );
  if (report.marks.has('missing')) {
    if (uploaded) throw new Error(`${version} is still not on the target after its upload`);
    // A rollback to a release this target no longer holds: upload it, then switch.
    rollout.log.system(`${target.name}: ${version} is not on the target: uploading it`);
    await upload(rollout, target);
    return switchOne(rollout, target, keep, true);
  }
  rollout.log.system(`${target.name}: current → releases/${version}`);
  try {
    await rollout.health(target);
  } catch (error) {
    if (report.previous && report.previous !== version) {
      rollout.log.system(`${target.name}: switching back to ${report.previous}`);
      await shell.switchBack(report.previous);
    }
    throw error;
  }
  return { outcome: 'OK' };
}

/**
 * Atomic. A deploy: phase 1 uploads releases/vN to every target; phase 2 switches `current` only when every target
 * holds it — the canary batch first (switch, hooks, health), then all the others. A rollback: one command per target
 * checks the release is there and switches (a target without it gets it uploaded first). A target whose hook or
 * health check fails is switched back.
 */
export async function rollAtomic(rollout: Rollout, pending: TargetRow[], batchSize: number, keep: number) {
  let ready = pending;
  if (!rollout.options.isRollback) {
    ready = await rollout.each(pending, async (target) => {
      rollout.begin(target);
      await upload(rollout, target);
      return null;
    });
    if (ready.length < pending.length) {
      return rollout.skip(
        ready,
        `not switched: ${pending.length - ready.length} target(s) did not get ${rollout.version}`,
      );
    }
  } else {
    for (const target of pending) rollout.begin(target);
  }
  const canary = ready.slice(0, batchSize);
  const rest = ready.slice(batchSize);
  faultPoint(rollout.context, 'atomic:uploaded');
  const canaryOk = await rollout.each(canary, (target) => switchOne(rollout, target, keep));
  faultPoint(rollout.context, 'atomic:canary-switched');
  if (canaryOk.length < canary.length) return rollout.skip(rest, 'the canary batch failed');
  await rollout.each(rest, (target) => switchOne(rollout, target, keep));
}

/**
 * Atomic, a repair: each target's copy of the release is brought back to it in place (every file compared by checksum,
 * --delay-updates), then `current` is pointed at it again, with the hooks and the health check of a rollback.
 */
export async function repairAtomic(rollout: Rollout, pending: TargetRow[], keep: number) {
  const { version } = rollout;
  await rollout.each(pending, async (target) => {
    rollout.begin(target);
    await rollout.guardUnknown(target, `${target.path}/releases/${version}`);
    rollout.log.system(`${target.name}: full sync of releases/${version}`);
    const stats = await rollout.sync(target, {
      destinationPath: `${target.path}/releases/${version}`,
      extra: ['--delay-updates'],
    });
    rollout.uploaded(target, { ...stats, transfer: 'FULL', changes: itemizedChanges(stats.output) });
    return switchOne(rollout, target, keep);
  });
}

/**
 * What an rsync of Slipway's that was killed leaves behind: a temporary file (`.name.XXXXXX` beside a file the release
 * ships) or --delay-updates' `.~tmp~` directory. Slipway's own, not unknown files: the next sync removes them.
 */
export function rsyncLeftover(path: string, shipped: Set<string>): boolean {
  if (/(^|\/)\.~tmp~\//.test(path)) return true;
  const temp = /^(.*\/)?\.([^/]+)\.[A-Za-z0-9]{6}$/.exec(path);
  return temp !== null && shipped.has(`${temp[1] ?? ''}${temp[2]}`);
}

/** How many unknown files a refusal names (the count is always whole). */
export const UNKNOWN_NAMED = 20;

/**
 * A sync refused on a target because it would delete files no release put there (uploads, logs, hand-made files):
 * nothing was changed there. `deleteUnknown` lets it delete them; a shared path keeps them for good.
 */
export class UnknownFiles extends Error {
  constructor(
    readonly targetName: string,
    readonly paths: string[],
  ) {
    const named = paths.slice(0, UNKNOWN_NAMED).join(', ');
    super(
      `UNKNOWN_FILES: ${paths.length} file(s) here were not put there by Slipway and this deploy would delete them: ` +
        `${named}${paths.length > UNKNOWN_NAMED ? ', …' : ''}. Nothing was changed. Deploy again with "delete unknown ` +
        'files" to delete them, or make the directory they are in a shared path of the project to keep them',
    );
    this.name = 'UnknownFiles';
  }
}

/**
 * What a sync of `source` to `root` on a target would delete there — rsync's dry run with --delete that sends and
 * compares nothing (--existing --ignore-existing), the excludes and shared paths respected — and which of those are
 * unknown files (see TransferPlanner.unknownOf). Where `root` does not exist (a first deploy), nothing is listed.
 */
export async function plannedDeletions(
  context: JobContext,
  planner: TransferPlanner,
  target: TargetRow,
  source: string,
  root: string,
  shell: TargetShell,
): Promise<{ deleted: string[]; unknown: string[] }> {
  const nothing = { deleted: [], unknown: [] };
  if (
    !target.host &&
    !(await stat(root).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  )
    return nothing;
  let output: string;
  try {
    ({ output } = await rsync(source, target, context.ssh, shippingExcludes(context.project), {
      ...context.run,
      extra: ['--dry-run', '--existing', '--ignore-existing'],
      destinationPath: root,
      controlPath: await shell.controlPath(),
      rsyncPath: target.host ? shell.rsyncIfPresent(root) : undefined,
      quietStdout: true,
      shownAs: `${target.name}: what would a full sync delete in ${root}? (rsync --dry-run)`,
    }));
  } catch (error) {
    if (error instanceof CommandFailed && error.reports.includes('@@slipway:absent')) return nothing;
    throw error;
  }
  const deleted = itemizedChanges(output)
    .filter((c) => c.change === 'DELETED')
    .map((c) => c.path)
    .sort();
  const unknown = await planner.unknownOf(target, deleted);
  context.sink.system(
    `${target.name}: a full sync deletes ${deleted.length} file(s) there${deleted.length ? `, ${unknown.length} of them unknown (put there by no release)` : ''}`,
  );
  return { deleted, unknown };
}

import { and, eq, inArray, isNotNull } from 'drizzle-orm';
import { environmentsOf } from './environments.ts';
import { SlipwayError } from './errors.ts';
import type { DbOrTx } from './queue.ts';
import { releases, tickets } from './tables.ts';
import { pathsConflict } from './validation.ts';

type TicketRow = typeof tickets.$inferSelect;
type ReleaseRow = typeof releases.$inferSelect;

/** A release in the line the first environment runs, with the ticket that made it (none for v0). */
export interface LineageStep {
  release: ReleaseRow;
  madeBy: TicketRow | null;
}

/**
 * What the first environment runs, as the releases it was built from: the live release, the one it was built on (the
 * release its ticket replaced there), and so on back to v0 — newest first. A release a rollback took off is not in it,
 * nor one whose deploy never went through. (A release made before Slipway recorded what it replaced is taken to
 * build on the release numbered just below it.)
 */
export async function firstLineage(db: DbOrTx, projectId: number): Promise<LineageStep[]> {
  const [first] = await environmentsOf(db, projectId);
  if (!first?.liveReleaseId) return [];
  const all = await db.select().from(releases).where(eq(releases.projectId, projectId));
  const makers = await db
    .select()
    .from(tickets)
    .where(
      and(eq(tickets.projectId, projectId), inArray(tickets.kind, ['RELEASE', 'REVERT']), isNotNull(tickets.releaseId)),
    );
  const byId = new Map(all.map((r) => [r.id, r]));
  const byNumber = new Map(all.map((r) => [r.number, r]));
  const makerOf = new Map(makers.map((t) => [t.releaseId as number, t]));
  const line: LineageStep[] = [];
  const seen = new Set<number>();
  let release = byId.get(first.liveReleaseId);
  while (release && !seen.has(release.id)) {
    seen.add(release.id);
    const madeBy = makerOf.get(release.id) ?? null;
    line.push({ release, madeBy });
    if (release.number === 0) break;
    release = madeBy?.replacedReleaseId ? byId.get(madeBy.replacedReleaseId) : byNumber.get(release.number - 1);
  }
  return line;
}

/** A later ticket that changed one of the reverted paths (the revert would undo its work too). */
export interface StandingInTheWay {
  id: number;
  reason: string;
  tag: string;
}

/** What stands between a deployed release ticket and its revert, if anything. */
export interface RevertCheck {
  /** The ticket's release (null: it made none). */
  release: ReleaseRow | null;
  /** The release it was built on: what its paths go back to (null when it is not part of what runs). */
  builtOn: ReleaseRow | null;
  /** Why it cannot be reverted now (NOT_PROMOTABLE, REVERT_CONFLICT), or null. */
  problem: SlipwayError | null;
  /** Later tickets in what runs that changed its paths (newest first): a REVERT_CONFLICT names them. */
  conflicts: StandingInTheWay[];
}

/**
 * Whether a deployed release ticket can be reverted: its release is part of what the first environment runs
 * (NOT_PROMOTABLE otherwise: never deployed, or rolled back), and no release after it in that line changed any of its
 * paths (REVERT_CONFLICT naming those tickets, newest first).
 */
export async function revertCheck(db: DbOrTx, reverted: TicketRow): Promise<RevertCheck> {
  const [first] = await environmentsOf(db, reverted.projectId);
  const line = await firstLineage(db, reverted.projectId);
  const at = line.findIndex((step) => step.madeBy?.id === reverted.id);
  const [made] = reverted.releaseId ? await db.select().from(releases).where(eq(releases.id, reverted.releaseId)) : [];
  const tag = made ? `v${made.number}` : null;
  if (reverted.kind !== 'RELEASE' || at < 0 || !made) {
    const problem = new SlipwayError(
      'NOT_PROMOTABLE',
      reverted.kind !== 'RELEASE'
        ? `ticket #${reverted.id} is a ${reverted.kind.toLowerCase()}: only a release ticket is reverted`
        : made
          ? `${tag} of ticket #${reverted.id} is not part of what ${first?.name ?? 'the first environment'} runs (a rollback took it off): there is nothing of it to revert`
          : `ticket #${reverted.id} made no release: there is nothing to revert`,
      {
        reason: reverted.kind !== 'RELEASE' ? 'NOT_A_RELEASE' : made ? 'NOT_LIVE' : 'NO_RELEASE',
        environment: first?.name ?? '',
        tag: tag ?? '',
      },
    );
    return { release: made ?? null, builtOn: null, problem, conflicts: [] };
  }
  const conflicts: StandingInTheWay[] = line
    .slice(0, at)
    .filter((step) => step.madeBy?.paths.some((path) => reverted.paths.some((mine) => pathsConflict(path, mine))))
    .map((step) => ({
      id: (step.madeBy as TicketRow).id,
      reason: (step.madeBy as TicketRow).reason,
      tag: `v${step.release.number}`,
    }));
  // Reverted already: its own revert is what stands in the way.
  const undoneBy = line
    .slice(0, at)
    .find((step) => step.madeBy?.kind === 'REVERT' && step.madeBy.revertsTicketId === reverted.id);
  const problem = conflicts.length
    ? new SlipwayError(
        'REVERT_CONFLICT',
        undoneBy
          ? `ticket #${reverted.id} was undone already, by #${undoneBy.madeBy?.id} (v${undoneBy.release.number})${conflicts.length > 1 ? `; released since, ${conflicts.map((t) => `#${t.id} (${t.tag})`).join(', ')} changed the same paths` : ''}`
          : `released since, ${conflicts.map((t) => `#${t.id} (${t.tag})`).join(', ')} changed the same paths: revert ${conflicts.length === 1 ? 'it' : 'them'} first, or ship a fix through staging`,
        { tickets: conflicts, ticket: reverted.id, ...(undoneBy ? { reason: 'ALREADY_REVERTED' } : {}) },
      )
    : null;
  return { release: made, builtOn: line[at + 1]?.release ?? null, problem, conflicts };
}

/** revertCheck, as a refusal: answers the ticket's release when it can be reverted. */
export async function checkRevert(db: DbOrTx, reverted: TicketRow): Promise<ReleaseRow> {
  const check = await revertCheck(db, reverted);
  if (check.problem) throw check.problem;
  return check.release as ReleaseRow;
}

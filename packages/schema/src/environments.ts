import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { BadUserInput, SlipwayError } from './errors.ts';
import type { DbOrTx } from './queue.ts';
import { environments, type projects } from './tables/projects.ts';
import { type releases, ticketEvents, tickets } from './tables/tickets.ts';

export type EnvironmentRow = typeof environments.$inferSelect;
type ProjectRow = typeof projects.$inferSelect;
type ReleaseRow = typeof releases.$inferSelect;

/** A project's environments in the order releases travel through them (the first: where release tickets deploy). */
export function environmentsOf(db: DbOrTx, projectId: number): Promise<EnvironmentRow[]> {
  return db
    .select()
    .from(environments)
    .where(eq(environments.projectId, projectId))
    .orderBy(asc(environments.position), asc(environments.id));
}

/** The environment release tickets deploy to and build on. */
export async function firstEnvironment(db: DbOrTx, projectId: number): Promise<EnvironmentRow> {
  const [first] = await environmentsOf(db, projectId);
  if (!first) throw new Error(`project ${projectId} has no environment`);
  return first;
}

/** How an environment deploys: its own settings where it has them, else the project's. */
export function deploySettings(project: ProjectRow, environment: EnvironmentRow | null) {
  return {
    parallelism: environment?.parallelism ?? project.parallelism,
    batchSize: environment?.batchSize ?? project.batchSize,
    preDeploy: environment?.preDeploy ?? project.preDeploy,
    postDeploy: environment?.postDeploy ?? project.postDeploy,
    healthCheckUrl: environment?.healthCheckUrl ?? project.healthCheckUrl,
  };
}

/** Releases that a deploy made live on an environment, newest first: by a release, a revert, a promotion or a rollback. */
const MADE_LIVE = ['RELEASE', 'PROMOTION', 'ROLLBACK', 'REVERT'] as const;

/** When `release` last went live on `environment` (null: never). */
export async function liveSince(db: DbOrTx, environmentId: number, releaseId: number): Promise<Date | null> {
  const [row] = await db
    .select({ at: ticketEvents.at })
    .from(ticketEvents)
    .innerJoin(tickets, eq(tickets.id, ticketEvents.ticketId))
    .where(
      and(
        eq(ticketEvents.action, 'DEPLOYED'),
        eq(tickets.environmentId, environmentId),
        eq(tickets.releaseId, releaseId),
        inArray(tickets.kind, [...MADE_LIVE]),
      ),
    )
    .orderBy(desc(ticketEvents.id))
    .limit(1);
  return row?.at ?? null;
}

/** Whether a rollback took `release` off `environment`. */
export async function rolledBackOn(db: DbOrTx, environmentId: number, releaseId: number): Promise<boolean> {
  const [row] = await db
    .select({ id: tickets.id })
    .from(tickets)
    .where(
      and(
        eq(tickets.kind, 'ROLLBACK'),
        eq(tickets.state, 'DEPLOYED'),
        eq(tickets.environmentId, environmentId),
        eq(tickets.replacedReleaseId, releaseId),
      ),
    )
    .limit(1);
  return row !== undefined;
}

/**
 * Whether `release` may be promoted into `environment`: the environment comes right after one where the release is
 * or was live and was not rolled back (NOT_PROMOTABLE otherwise); at deploy time (`now` given) also after that
 * environment's bake time has passed since it went live there (BAKING, with the seconds left). Answers the previous
 * environment and when the release went live there.
 */
export async function checkPromotion(
  db: DbOrTx,
  release: ReleaseRow,
  environment: EnvironmentRow,
  now?: Date,
): Promise<{ previous: EnvironmentRow; since: Date }> {
  const all = await environmentsOf(db, release.projectId);
  const at = all.findIndex((e) => e.id === environment.id);
  const previous = at > 0 ? all[at - 1] : undefined;
  const tag = `v${release.number}`;
  if (environment.projectId !== release.projectId)
    throw new BadUserInput('environmentId', 'is not an environment of the release’s project');
  if (!previous)
    throw new SlipwayError(
      'NOT_PROMOTABLE',
      `${environment.name} is the first environment: releases reach it by their own ticket, not by promotion`,
      { reason: 'FIRST_ENVIRONMENT', environment: environment.name },
    );
  if (await rolledBackOn(db, previous.id, release.id))
    throw new SlipwayError('NOT_PROMOTABLE', `${tag} was rolled back on ${previous.name}: it cannot go further`, {
      reason: 'ROLLED_BACK',
      environment: previous.name,
      tag,
    });
  const since = await liveSince(db, previous.id, release.id);
  if (!since)
    throw new SlipwayError(
      'NOT_PROMOTABLE',
      `${tag} has never been live on ${previous.name}, the environment before ${environment.name}`,
      { reason: 'NEVER_LIVE', environment: previous.name, tag },
    );
  if (now && environment.bakeMinutes > 0) {
    const ready = since.getTime() + environment.bakeMinutes * 60_000;
    if (now.getTime() < ready) {
      const retryAfterSeconds = Math.ceil((ready - now.getTime()) / 1000);
      throw new SlipwayError(
        'BAKING',
        `${tag} has been live on ${previous.name} since ${since.toISOString()}; ${environment.name} takes it after ${environment.bakeMinutes} minute(s) there: ${retryAfterSeconds} s left`,
        { retryAfterSeconds, readyAt: new Date(ready).toISOString(), environment: previous.name, tag },
      );
    }
  }
  return { previous, since };
}

/** The environment as the caller's transaction locks it (for a deploy that makes a release live on it). */
export async function lockEnvironment(tx: DbOrTx, id: number): Promise<EnvironmentRow> {
  const [row] = await tx.select().from(environments).where(eq(environments.id, id)).for('update');
  if (!row) throw new SlipwayError('NOT_FOUND', `environment ${id} does not exist`);
  return row;
}

/** Makes `releaseId` the live release of every environment of the project that has none yet (the baseline). */
export async function setBaseline(tx: DbOrTx, projectId: number, releaseId: number): Promise<void> {
  await tx
    .update(environments)
    .set({ liveReleaseId: sql`coalesce(${environments.liveReleaseId}, ${releaseId})` })
    .where(eq(environments.projectId, projectId));
}

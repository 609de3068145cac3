import {
  type Db,
  deployResults,
  type EnvironmentRow,
  environments,
  memberships,
  openStored,
  projects,
  type Role,
  roleAtLeast,
  type SecretBox,
  type Sql,
  targets,
  type tickets,
  users,
} from '@slipway/schema';
import DataLoader from 'dataloader';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Directory } from '../auth/directory.ts';
import type { Viewer } from '../auth/tokens.ts';
import type { Feeds } from '../feeds.ts';
import type { NotificationHub } from '../notifications.ts';
import { prepared } from '../prepared.ts';
import type { ClockCache } from '../read-cache.ts';

type UserRow = typeof users.$inferSelect;
type ProjectRow = typeof projects.$inferSelect;
/** One row of a ticket page: the ticket and its author. */
export type TicketPageRow = { ticket: typeof tickets.$inferSelect; author: UserRow };

/** Per-request batching: the 20 authors of a ticket page are one query, not 20. */
export interface Loaders {
  user: DataLoader<number, UserRow | undefined>;
  project: DataLoader<number, ProjectRow | undefined>;
  /**
   * A project's canary: the ids of the first `batchSize` targets of each of its environments in deploy order (the
   * environment's batch size, else the project's; one query for every project asked).
   */
  canary: DataLoader<number, Set<number>>;
  /** A project's environments, in order. */
  environments: DataLoader<number, EnvironmentRow[]>;
  /**
   * What changed on each target of a deploy (up to 1,000 paths a result), read only when a query asks for it: a
   * list of 50 targets' outcomes is not 50,000 paths parsed.
   */
  deployChanges: DataLoader<number, { id: number; changes: unknown } | undefined>;
}

function byId<Row extends { id: number }>(load: (ids: number[]) => Promise<Row[]>) {
  return new DataLoader<number, Row | undefined>(async (ids) => {
    const rows = await load([...ids]);
    const found = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => found.get(id));
  });
}

const roleStatement = (db: Db) =>
  prepared(db, 'role_in_project', (db, name) =>
    db
      .select({ role: memberships.role })
      .from(memberships)
      .where(
        and(eq(memberships.projectId, sql.placeholder('projectId')), eq(memberships.userId, sql.placeholder('userId'))),
      )
      .prepare(name),
  );
const usersStatement = (db: Db) =>
  prepared(db, 'users_by_id', (db, name) =>
    db
      .select()
      .from(users)
      .where(sql`${users.id} = any(${sql.placeholder('ids')}::bigint[])`)
      .prepare(name),
  );
const projectsStatement = (db: Db) =>
  prepared(db, 'projects_by_id', (db, name) =>
    db
      .select()
      .from(projects)
      .where(sql`${projects.id} = any(${sql.placeholder('ids')}::bigint[])`)
      .prepare(name),
  );

export interface Context {
  db: Db;
  sql: Sql;
  logger: Logger;
  /** PostgreSQL notifications, for subscriptions. */
  hub: NotificationHub;
  /** The replica's shared readers of job logs, job states and ticket events. */
  feeds: Feeds;
  /** The replica's ticket pages, served again while the tickets read clock stays where it was. */
  ticketPages: ClockCache<readonly TicketPageRow[]>;
  /** Seals secrets at rest (repository credentials). */
  secrets: SecretBox | undefined;
  /** Directory sign-in (LDAP), when configured. */
  directory: Directory | undefined;
  viewer: Viewer | null;
  /** The peer's address, for the sign-in rate limit. */
  clientAddress: string;
  /** Set-Cookie values for the HTTP response; ignored over websockets. */
  responseCookies: string[];
  secureCookies: boolean;
  /** The role the viewer acts with in a project: their membership's; an admin acts as a lead everywhere. */
  roleIn(projectId: number): Promise<Role | null>;
  hasRole(projectId: number, role: Role): Promise<boolean>;
  loaders: Loaders;
  /**
   * Websocket operations only: a signal that aborts (with FORBIDDEN) once the viewer may no longer see the project,
   * so a live subscription ends when its user loses access.
   */
  watchProject?: (projectId: number) => { signal: AbortSignal; done(): void };
  /** Forgets what the request has read so far (before an operation is run again). */
  forget(): void;
}

/** A secret sealed with the server's key, to be stored (repository credentials, channel and webhook URLs, secrets). */
export function sealed(context: Pick<Context, 'secrets'>, plain: string): string {
  if (!context.secrets) throw new Error('no secret key is configured on this server');
  return context.secrets.seal(plain);
}

/** A stored secret opened with the server's key (a value stored before its kind was sealed reads as it is). */
export function opened(context: Pick<Context, 'secrets'>, stored: string): string {
  if (!context.secrets) throw new Error('no secret key is configured on this server');
  return openStored(context.secrets, stored);
}

export function createContext(fields: Omit<Context, 'roleIn' | 'hasRole' | 'loaders' | 'forget'>): Context {
  const roles = new Map<number, Promise<Role | null>>();
  const roleIn = (projectId: number) => {
    const viewer = fields.viewer;
    if (!viewer) return Promise.resolve(null);
    // An admin may do any lead's work in any project (an incident does not wait for someone to join it).
    if (viewer.isAdmin) return Promise.resolve<Role | null>('LEAD');
    let found = roles.get(projectId);
    if (!found) {
      found = roleStatement(fields.db)
        .execute({ projectId, userId: viewer.id })
        .then((rows) => rows[0]?.role ?? null);
      roles.set(projectId, found);
    }
    return found;
  };
  // Each loader is made when a resolver first asks for it: most requests need one or two of them, or none.
  const makeLoaders = (): Loaders => {
    const made: Partial<Loaders> = {};
    return {
      get user() {
        made.user ??= byId((ids) => usersStatement(fields.db).execute({ ids }));
        return made.user;
      },
      get project() {
        made.project ??= byId((ids) => projectsStatement(fields.db).execute({ ids }));
        return made.project;
      },
      get canary() {
        made.canary ??= canaryLoader();
        return made.canary;
      },
      get environments() {
        made.environments ??= environmentsLoader();
        return made.environments;
      },
      get deployChanges() {
        made.deployChanges ??= byId((ids) =>
          fields.db
            .select({ id: deployResults.id, changes: deployResults.changes })
            .from(deployResults)
            .where(inArray(deployResults.id, ids)),
        );
        return made.deployChanges;
      },
    };
  };
  const canaryLoader = () =>
    new DataLoader<number, Set<number>>(async (projectIds) => {
      const rows = await fields.db
        .select({
          id: targets.id,
          projectId: targets.projectId,
          environmentId: targets.environmentId,
          batchSize: sql<number>`coalesce(${environments.batchSize}, ${projects.batchSize})`,
        })
        .from(targets)
        .innerJoin(projects, eq(projects.id, targets.projectId))
        .innerJoin(environments, eq(environments.id, targets.environmentId))
        .where(inArray(targets.projectId, [...projectIds]))
        .orderBy(asc(targets.position), asc(targets.name));
      const canary = new Map(projectIds.map((id) => [id, new Set<number>()]));
      const taken = new Map<number, number>();
      for (const row of rows) {
        const n = taken.get(row.environmentId) ?? 0;
        if (n >= Number(row.batchSize)) continue;
        taken.set(row.environmentId, n + 1);
        canary.get(row.projectId)?.add(row.id);
      }
      return projectIds.map((id) => canary.get(id) ?? new Set<number>());
    });
  const environmentsLoader = () =>
    new DataLoader<number, EnvironmentRow[]>(async (projectIds) => {
      const rows = await fields.db
        .select()
        .from(environments)
        .where(inArray(environments.projectId, [...projectIds]))
        .orderBy(asc(environments.position), asc(environments.id));
      return projectIds.map((id) => rows.filter((row) => row.projectId === id));
    });
  const context: Context = {
    ...fields,
    loaders: makeLoaders(),
    roleIn,
    hasRole: async (projectId, role) => roleAtLeast(await roleIn(projectId), role),
    forget: () => {
      roles.clear();
      context.loaders = makeLoaders();
    },
  };
  return context;
}

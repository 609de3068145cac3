import { type Db, memberships, projects, type Role, roleAtLeast, type Sql, users } from '@slipway/schema';
import DataLoader from 'dataloader';
import { and, eq, inArray } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Viewer } from '../auth/tokens.ts';
import type { NotificationHub } from '../notifications.ts';

type UserRow = typeof users.$inferSelect;
type ProjectRow = typeof projects.$inferSelect;

/** Per-request batching: the 20 authors of a ticket page are one query, not 20. */
export interface Loaders {
  user: DataLoader<number, UserRow | undefined>;
  project: DataLoader<number, ProjectRow | undefined>;
}

function byId<Row extends { id: number }>(load: (ids: number[]) => Promise<Row[]>) {
  return new DataLoader<number, Row | undefined>(async (ids) => {
    const rows = await load([...ids]);
    const found = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => found.get(id));
  });
}

export interface Context {
  db: Db;
  sql: Sql;
  logger: Logger;
  /** PostgreSQL notifications, for subscriptions. */
  hub: NotificationHub;
  viewer: Viewer | null;
  /** The peer's address, for the sign-in rate limit. */
  clientAddress: string;
  /** Set-Cookie values for the HTTP response; ignored over websockets. */
  responseCookies: string[];
  secureCookies: boolean;
  roleIn(projectId: number): Promise<Role | null>;
  hasRole(projectId: number, role: Role): Promise<boolean>;
  loaders: Loaders;
  /**
   * Websocket operations only: a signal that aborts (with FORBIDDEN) once the viewer may no longer see the project,
   * so a live subscription ends when its user loses access.
   */
  watchProject?: (projectId: number) => { signal: AbortSignal; done(): void };
}

export function createContext(fields: Omit<Context, 'roleIn' | 'hasRole' | 'loaders'>): Context {
  const roles = new Map<number, Promise<Role | null>>();
  const roleIn = (projectId: number) => {
    const viewer = fields.viewer;
    if (!viewer) return Promise.resolve(null);
    let found = roles.get(projectId);
    if (!found) {
      found = fields.db
        .select({ role: memberships.role })
        .from(memberships)
        .where(and(eq(memberships.projectId, projectId), eq(memberships.userId, viewer.id)))
        .then((rows) => rows[0]?.role ?? null);
      roles.set(projectId, found);
    }
    return found;
  };
  const loaders: Loaders = {
    user: byId((ids) => fields.db.select().from(users).where(inArray(users.id, ids))),
    project: byId((ids) => fields.db.select().from(projects).where(inArray(projects.id, ids))),
  };
  return {
    ...fields,
    loaders,
    roleIn,
    hasRole: async (projectId, role) => roleAtLeast(await roleIn(projectId), role),
  };
}

import { type Db, memberships, type Role, roleAtLeast, type Sql } from '@slipway/schema';
import { and, eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Viewer } from '../auth/tokens.ts';
import type { NotificationHub } from '../notifications.ts';

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
}

export function createContext(fields: Omit<Context, 'roleIn' | 'hasRole'>): Context {
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
  return {
    ...fields,
    roleIn,
    hasRole: async (projectId, role) => roleAtLeast(await roleIn(projectId), role),
  };
}

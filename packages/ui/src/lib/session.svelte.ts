import { query } from './client.ts';
import { graphql } from './graphql.ts';

const Me = graphql(`
  query Me {
    me { id login name isAdmin mustChangePassword memberships { role project { id name } } }
  }
`);

export interface SessionUser {
  id: string;
  login: string;
  name: string;
  isAdmin: boolean;
  /** Signed in with a password made for them (generated, or reset by an admin): asked to choose their own. */
  mustChangePassword: boolean | null;
  memberships: { role: string; project: { id: string; name: string } }[];
}

export const session = $state<{ user: SessionUser | null; loaded: boolean }>({ user: null, loaded: false });

export async function loadSession(): Promise<void> {
  const { data } = await query(Me, {});
  session.user = data?.me ?? null;
  session.loaded = true;
}

export function roleIn(projectId: string): string | null {
  return session.user?.memberships.find((m) => m.project.id === projectId)?.role ?? null;
}

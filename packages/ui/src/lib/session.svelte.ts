import { query } from './client.ts';
import { graphql } from './graphql.ts';

const Me = graphql(`
  query Me {
    me { id login name isAdmin memberships { role project { id name } } }
  }
`);

export interface SessionUser {
  id: string;
  login: string;
  name: string;
  isAdmin: boolean;
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

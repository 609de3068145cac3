import type { role } from './tables/projects.ts';

export type Role = (typeof role.enumValues)[number];

const rank: Record<Role, number> = { VIEWER: 0, DEVELOPER: 1, TESTER: 2, LEAD: 3 };

/** Each role includes the rights of the ones before it: VIEWER < DEVELOPER < TESTER < LEAD. */
export function roleAtLeast(held: Role | null | undefined, needed: Role): boolean {
  return held != null && rank[held] >= rank[needed];
}

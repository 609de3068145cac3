import { query, subscribe } from './client.ts';
import type { ResultOf } from './graphql.ts';
import { MyWork, TicketEvents } from './queries.ts';
import { session } from './session.svelte.ts';

export type Work = NonNullable<ResultOf<typeof MyWork>['myWork']>;

/** What waits for the signed-in user, kept current: any ticket event in one of their projects reloads it. */
export const work = $state<{ data: Work | null }>({ data: null });

let loading: Promise<void> | null = null;
let again = false;

/** Reloads (one request at a time; events during a request ask for one more). */
export function refreshWork(): Promise<void> {
  if (loading) {
    again = true;
    return loading;
  }
  loading = (async () => {
    do {
      again = false;
      const { data } = await query(MyWork, {});
      work.data = data?.myWork ?? null;
    } while (again);
    loading = null;
  })();
  return loading;
}

/** Follows the user's projects; answers the function that stops following. */
export function followWork(): () => void {
  void refreshWork();
  const stops = (session.user?.memberships ?? []).map((m) =>
    subscribe(TicketEvents, { projectId: m.project.id }, () => void refreshWork()),
  );
  return () => {
    for (const stop of stops) stop();
  };
}

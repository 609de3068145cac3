import { mutate, query, subscribe } from './client.ts';
import { errorText } from './errors.ts';
import type { ResultOf } from './graphql.ts';
import { CompareReleases, ComparisonResult, JobState, JobUpdated } from './queries.ts';

type Outcome = { state: string; error: string | null };

/**
 * Waits until a job has ended (a target check, a preview, a comparison, a test message: seconds), as the jobUpdated
 * subscription tells it; answers how it ended. A read every 5 s is the backstop while the socket is down.
 */
export function jobOutcome(id: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let ended = false;
    let stop = () => {};
    const check = (job: { state: string; error?: string | null } | null | undefined) => {
      if (ended || job === undefined) return;
      if (job !== null && job.state !== 'SUCCEEDED' && job.state !== 'FAILED') return;
      ended = true;
      stop();
      clearInterval(poll);
      resolve(job ? { state: job.state, error: job.error ?? null } : { state: 'GONE', error: null });
    };
    const poll = setInterval(async () => {
      const { data, error } = await query(JobState, { id });
      if (!error) check(data?.job ?? null);
    }, 5000);
    stop = subscribe(JobUpdated, { id }, (data) => check(data.jobUpdated));
  });
}

export type Comparison = NonNullable<NonNullable<ResultOf<typeof ComparisonResult>['job']>['comparison']>;

/** Two versions compared (files and diffs), on the executor that keeps the ledger; or why that failed. */
export async function compareReleases(from: string, to: string): Promise<Comparison | { failed: string }> {
  const started = await mutate(CompareReleases, { fromReleaseId: from, toReleaseId: to });
  if (!started.data) return { failed: errorText(started.error) };
  const ended = await jobOutcome(started.data.compareReleases.id);
  const { data: answer } = await query(ComparisonResult, { id: started.data.compareReleases.id });
  return ended.state === 'SUCCEEDED' && answer?.job.comparison ? answer.job.comparison : { failed: ended.error ?? '' };
}

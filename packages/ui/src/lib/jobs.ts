import { query } from './client.ts';
import { JobState } from './queries.ts';

/** Reads a job's state until it has ended (verifications and test messages take seconds); answers how it ended. */
export async function jobOutcome(id: string): Promise<{ state: string; error: string | null }> {
  for (;;) {
    const job = (await query(JobState, { id })).data?.job;
    if (!job) return { state: 'GONE', error: null };
    if (job.state === 'SUCCEEDED' || job.state === 'FAILED') return { state: job.state, error: job.error ?? null };
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

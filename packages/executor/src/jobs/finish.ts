import {
  type EventMessage,
  finishJob,
  recordTransition,
  SYSTEM_TRANSITIONS,
  type SystemAction,
  type Tx,
} from '@slipway/schema';
import { type JobContext, LeaseLost } from './context.ts';

/**
 * Ends the job and records the ticket's system transition in one transaction. If the job is no longer this
 * executor's, nothing is written (another executor owns the outcome).
 */
export async function finishWith(
  context: JobContext,
  outcome: { state: 'SUCCEEDED' | 'FAILED'; error?: string },
  transition?: {
    action: SystemAction;
    comment?: string;
    message?: EventMessage;
    set?: Parameters<typeof recordTransition>[1]['set'];
  },
  more?: (tx: Tx) => Promise<void>,
): Promise<void> {
  await context.sink.flush();
  await context.db.transaction(async (tx) => {
    if (!(await finishJob(tx, context.job.id, context.workerId, outcome))) throw new LeaseLost(context.job.id);
    if (more) await more(tx);
    if (transition && context.ticket) {
      const { from, to } = SYSTEM_TRANSITIONS[transition.action];
      await recordTransition(tx, {
        ticketId: context.ticket.id,
        projectId: context.project.id,
        action: transition.action,
        from,
        to,
        actorId: null,
        // An event with a message gets its English comment from it (recordEvent).
        comment: transition.comment,
        message: transition.message ?? null,
        set: transition.set,
      });
    }
  });
}

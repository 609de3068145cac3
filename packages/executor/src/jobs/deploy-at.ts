import {
  decide,
  deployJob,
  type EventMessage,
  memberships,
  projects,
  recordEvent,
  SlipwayError,
  startDeploy,
  tickets,
} from '@slipway/schema';
import { and, eq } from 'drizzle-orm';
import type { JobHandler } from './context.ts';
import { finishWith } from './finish.ts';

/**
 * DEPLOY_AT (scheduleDeploy): at the scheduled time the deploy starts as if the one who scheduled it pressed the
 * button (startDeploy, as the API does) — with their rights as they are then, refused while the project is frozen or
 * has no targets (the refusal is in the audit trail, which tells the webhooks); a rollback or repair ticket starts its
 * rollback or repair. A schedule changed or cancelled since makes this job do nothing.
 */
/** Why a scheduled deploy did not start, in words of no language (the console and Chinese channels say it theirs). */
function notStarted(at: string, error: SlipwayError): EventMessage {
  const x = error.details as Record<string, unknown>;
  const due = at;
  if (error.code === 'FROZEN') return { key: 'SCHEDULE_FROZEN', params: { at: due, reason: String(x.reason ?? '') } };
  if (error.code === 'BAKING')
    return {
      key: 'SCHEDULE_BAKING',
      params: {
        at: due,
        tag: String(x.tag ?? ''),
        environment: String(x.environment ?? ''),
        minutes: String(Math.max(1, Math.ceil(Number(x.retryAfterSeconds ?? 60) / 60))),
      },
    };
  if (x.reason === 'NO_TARGETS')
    return { key: 'SCHEDULE_NO_TARGETS', params: { at: due, environment: String(x.environment ?? '') } };
  return { key: 'SCHEDULE_NOT_STARTED', params: { at: due, why: `${error.code}: ${error.message}` } };
}

export const deployAt: JobHandler = {
  async perform(context) {
    const { job } = context;
    const at = (job.payload as { at?: string }).at;
    const refused = await context.db.transaction(async (tx) => {
      const [ticket] = await tx
        .select()
        .from(tickets)
        .where(eq(tickets.id, job.ticketId ?? 0))
        .for('update');
      if (!ticket?.scheduledById || ticket.scheduledAt?.toISOString() !== at) return 'stale';
      const [project] = await tx.select().from(projects).where(eq(projects.id, ticket.projectId)).for('update');
      if (!project) return 'stale';
      const [member] = await tx
        .select({ role: memberships.role })
        .from(memberships)
        .where(and(eq(memberships.projectId, project.id), eq(memberships.userId, ticket.scheduledById)));
      try {
        const transition = decide(
          'DEPLOY',
          ticket,
          { userId: ticket.scheduledById, role: member?.role ?? null },
          project,
        );
        await startDeploy(tx, {
          ticketId: ticket.id,
          projectId: project.id,
          action: 'DEPLOY',
          from: ticket.state,
          to: transition.to,
          actorId: ticket.scheduledById,
          ticket,
          project,
          kind: deployJob(transition),
          say: (throughFreeze) => ({
            message: { key: throughFreeze ? 'SCHEDULED_OVERRIDE' : 'SCHEDULED', params: { at: at ?? '' } },
          }),
        });
        return null;
      } catch (error) {
        // Refused (the scheduler's rights now, a freeze, no targets) before anything was written: the schedule ends,
        // saying why, and the ticket stays as it is. Anything else fails the job.
        if (!(error instanceof SlipwayError)) throw error;
        const why = `${error.code}: ${error.message}`;
        const message = notStarted(at ?? '', error);
        await tx.update(tickets).set({ scheduledAt: null, scheduledById: null }).where(eq(tickets.id, ticket.id));
        await recordEvent(tx, {
          ticketId: ticket.id,
          projectId: project.id,
          action: 'SCHEDULED_DEPLOY_FAILED',
          from: ticket.state,
          to: ticket.state,
          actorId: null,
          message,
        });
        return why;
      }
    });
    if (refused === 'stale') context.sink.system('the schedule was changed or cancelled: nothing to start');
    else if (refused) context.sink.system(refused);
    else context.sink.system('the deploy started, as scheduled');
    await finishWith(
      context,
      refused && refused !== 'stale' ? { state: 'FAILED', error: refused } : { state: 'SUCCEEDED' },
    );
  },
  async fail(context, error) {
    await finishWith(context, { state: 'FAILED', error: error.message });
  },
};

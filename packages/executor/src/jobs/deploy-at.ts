import {
  activeFreeze,
  decide,
  enqueueJob,
  memberships,
  projects,
  recordEvent,
  recordTransition,
  SlipwayError,
  tickets,
} from '@slipway/schema';
import { and, eq } from 'drizzle-orm';
import type { JobHandler } from './context.ts';
import { finishWith } from './finish.ts';

/**
 * DEPLOY_AT (scheduleDeploy): at the scheduled time the deploy starts as if the one who scheduled it pressed the
 * button — with their rights as they are then, and refused while the project is frozen (the refusal is in the audit
 * trail, which tells the webhooks). A schedule changed or cancelled since makes this job do nothing.
 */
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
      const clear = { scheduledAt: null, scheduledById: null };
      const [member] = await tx
        .select({ role: memberships.role })
        .from(memberships)
        .where(and(eq(memberships.projectId, project.id), eq(memberships.userId, ticket.scheduledById)));
      const frozen = activeFreeze(project);
      let why: string | null = null;
      if (frozen && !ticket.freezeOverride) why = `FROZEN: deploys are frozen: ${frozen.reason}`;
      else {
        try {
          decide('DEPLOY', ticket, { userId: ticket.scheduledById, role: member?.role ?? null }, project);
        } catch (error) {
          why = `${error instanceof SlipwayError ? `${error.code}: ` : ''}${(error as Error).message}`;
        }
      }
      if (why) {
        await tx.update(tickets).set(clear).where(eq(tickets.id, ticket.id));
        await recordEvent(tx, {
          ticketId: ticket.id,
          projectId: project.id,
          action: 'SCHEDULED_DEPLOY_FAILED',
          from: ticket.state,
          to: ticket.state,
          actorId: null,
          message: { key: 'SCHEDULE_NOT_STARTED', params: { at: at ?? '', why } },
        });
        return why;
      }
      await recordTransition(tx, {
        ticketId: ticket.id,
        projectId: project.id,
        action: 'DEPLOY',
        from: 'APPROVED',
        to: 'DEPLOYING',
        actorId: ticket.scheduledById,
        message: { key: frozen ? 'SCHEDULED_OVERRIDE' : 'SCHEDULED', params: { at: at ?? '' } },
        set: { ...clear, ...(frozen ? { freezeOverride: false } : {}) },
      });
      await enqueueJob(tx, { projectId: project.id, ticketId: ticket.id, kind: 'DEPLOY', pool: project.pool });
      return null;
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

import type { JobContext } from './context.ts';

/**
 * A named step of a job. When SLIPWAY_FAULT_AT names it, the executor dies on the spot with SIGKILL, as a host
 * losing power would: the fault tests prove that another executor then finishes the job correctly.
 */
export function faultPoint(context: JobContext, step: string): void {
  if (context.faultAt === step) {
    context.logger.warn({ step }, 'fault injection: killing this executor');
    process.kill(process.pid, 'SIGKILL');
  }
}

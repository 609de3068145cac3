/** The workflow in the order a release ticket walks it (the stepper), and the side states. */
export const RELEASE_STEPS = [
  'PENDING_STAGING',
  'AWAITING_TEST',
  'AWAITING_APPROVAL',
  'APPROVED',
  'DEPLOYING',
  'DEPLOYED',
] as const;
export const ROLLBACK_STEPS = ['AWAITING_APPROVAL', 'APPROVED', 'DEPLOYING', 'DEPLOYED'] as const;
/** A revert is prepared by the executor (no test), then walks a rollback's steps. */
export const REVERT_STEPS = ['PENDING_STAGING', ...ROLLBACK_STEPS] as const;
export const ALL_STATES = [
  ...RELEASE_STEPS,
  'STAGING_FAILED',
  'RETURNED',
  'REJECTED',
  'DEPLOY_FAILED',
  'CANCELLED',
] as const;
export type TicketState = (typeof ALL_STATES)[number];
/** Where a side state sits on the stepper. */
export const SIDE_STATE_STEP: Partial<Record<TicketState, TicketState>> = {
  STAGING_FAILED: 'PENDING_STAGING',
  RETURNED: 'AWAITING_TEST',
  REJECTED: 'AWAITING_APPROVAL',
  DEPLOY_FAILED: 'DEPLOYING',
};

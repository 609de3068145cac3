import { Forbidden, SlipwayError } from './errors.ts';
import { type Role, roleAtLeast } from './roles.ts';
import type { jobKind, ticketKind, ticketState } from './tables.ts';

export type TicketState = (typeof ticketState.enumValues)[number];
export type TicketKind = (typeof ticketKind.enumValues)[number];
export type JobKind = (typeof jobKind.enumValues)[number];

/** What a person may do to a ticket (the executor's own transitions are in SYSTEM_TRANSITIONS). */
export const TICKET_ACTIONS = [
  'SUBMIT',
  'RETURN',
  'RESUBMIT',
  'PASS_TEST',
  'APPROVE',
  'REJECT',
  'DEPLOY',
  'RETRY_DEPLOY',
  'CANCEL',
  'REQUEST_ROLLBACK',
  'REQUEST_REPAIR',
  'REQUEST_PROMOTION',
  'REQUEST_REVERT',
] as const;
export type TicketAction = (typeof TICKET_ACTIONS)[number];

export type SystemAction =
  | 'STAGED'
  | 'STAGING_FAILED'
  | 'DEPLOYED'
  | 'DEPLOY_FAILED'
  | 'STAGING_CHANGED'
  | 'REVERTED'
  | 'PREPARED';

/**
 * Who may act. `author` is the ticket's author (the requester, for a rollback); a role means "at least that role
 * in the project"; `lead` is the LEAD role exactly (approving is the lead's alone, whatever else they hold).
 */
export type Who = 'author' | Role;

export interface Transition {
  action: TicketAction;
  kinds: readonly TicketKind[];
  /** `null` for the actions that create a ticket. */
  from: readonly (TicketState | null)[];
  to: TicketState;
  who: readonly Who[];
  /** The author may not take it, unless the project's rule of that name allows it (approving, passing the test). */
  notAuthor?: keyof ProjectRules;
  comment: 'required' | 'optional' | 'none';
  /** A job the transition enqueues in the same transaction. */
  enqueues?: JobKind;
}

const BEFORE_DEPLOYING: TicketState[] = [
  'PENDING_STAGING',
  'AWAITING_TEST',
  'AWAITING_APPROVAL',
  'APPROVED',
  'STAGING_FAILED',
  'RETURNED',
];
const ALL_KINDS: TicketKind[] = ['RELEASE', 'ROLLBACK', 'REPAIR', 'PROMOTION', 'REVERT'];

/** The workflow table of PRODUCT.md, as data. */
export const TRANSITIONS: readonly Transition[] = [
  {
    action: 'SUBMIT',
    kinds: ['RELEASE'],
    from: [null],
    to: 'PENDING_STAGING',
    who: ['DEVELOPER'],
    comment: 'none',
    enqueues: 'STAGE',
  },
  {
    action: 'RETURN',
    kinds: ['RELEASE'],
    from: ['AWAITING_TEST', 'STAGING_FAILED', 'AWAITING_APPROVAL'],
    to: 'RETURNED',
    who: ['author', 'TESTER'],
    comment: 'optional',
  },
  {
    action: 'RESUBMIT',
    kinds: ['RELEASE'],
    from: ['RETURNED', 'STAGING_FAILED'],
    to: 'PENDING_STAGING',
    who: ['author'],
    comment: 'optional',
    enqueues: 'STAGE',
  },
  {
    // A revert whose preparation failed (e.g. a later release took its paths): prepared again once that is undone.
    action: 'RESUBMIT',
    kinds: ['REVERT'],
    from: ['STAGING_FAILED'],
    to: 'PENDING_STAGING',
    who: ['author'],
    comment: 'optional',
    enqueues: 'STAGE',
  },
  {
    action: 'PASS_TEST',
    kinds: ['RELEASE'],
    from: ['AWAITING_TEST'],
    to: 'AWAITING_APPROVAL',
    who: ['author', 'TESTER'],
    notAuthor: 'allowAuthorPassTest',
    comment: 'optional',
  },
  {
    action: 'APPROVE',
    kinds: ALL_KINDS,
    from: ['AWAITING_APPROVAL'],
    to: 'APPROVED',
    who: ['LEAD'],
    notAuthor: 'allowSelfApproval',
    comment: 'optional',
  },
  {
    action: 'REJECT',
    kinds: ALL_KINDS,
    from: ['AWAITING_APPROVAL'],
    to: 'REJECTED',
    who: ['LEAD'],
    comment: 'required',
  },
  {
    action: 'DEPLOY',
    kinds: ['RELEASE', 'REVERT'],
    from: ['APPROVED'],
    to: 'DEPLOYING',
    who: ['author', 'LEAD'],
    comment: 'none',
    enqueues: 'DEPLOY',
  },
  {
    action: 'DEPLOY',
    kinds: ['ROLLBACK'],
    from: ['APPROVED'],
    to: 'DEPLOYING',
    who: ['author', 'LEAD'],
    comment: 'none',
    enqueues: 'ROLLBACK',
  },
  {
    action: 'DEPLOY',
    kinds: ['REPAIR'],
    from: ['APPROVED'],
    to: 'DEPLOYING',
    who: ['author', 'LEAD'],
    comment: 'none',
    enqueues: 'REPAIR',
  },
  {
    action: 'DEPLOY',
    kinds: ['PROMOTION'],
    from: ['APPROVED'],
    to: 'DEPLOYING',
    who: ['author', 'LEAD'],
    comment: 'none',
    enqueues: 'PROMOTE',
  },
  {
    action: 'RETRY_DEPLOY',
    kinds: ['RELEASE', 'REVERT'],
    from: ['DEPLOY_FAILED'],
    to: 'DEPLOYING',
    who: ['author', 'LEAD'],
    comment: 'none',
    enqueues: 'DEPLOY',
  },
  {
    action: 'RETRY_DEPLOY',
    kinds: ['ROLLBACK'],
    from: ['DEPLOY_FAILED'],
    to: 'DEPLOYING',
    who: ['author', 'LEAD'],
    comment: 'none',
    enqueues: 'ROLLBACK',
  },
  {
    action: 'RETRY_DEPLOY',
    kinds: ['REPAIR'],
    from: ['DEPLOY_FAILED'],
    to: 'DEPLOYING',
    who: ['author', 'LEAD'],
    comment: 'none',
    enqueues: 'REPAIR',
  },
  {
    action: 'RETRY_DEPLOY',
    kinds: ['PROMOTION'],
    from: ['DEPLOY_FAILED'],
    to: 'DEPLOYING',
    who: ['author', 'LEAD'],
    comment: 'none',
    enqueues: 'PROMOTE',
  },
  {
    action: 'CANCEL',
    kinds: ALL_KINDS,
    from: BEFORE_DEPLOYING,
    to: 'CANCELLED',
    who: ['author', 'LEAD'],
    comment: 'optional',
  },
  {
    // A failed deploy is cancelled by a job: it brings the targets that took the new version back to the live one,
    // then the ticket is CANCELLED (REVERTED); until then it stays DEPLOY_FAILED.
    action: 'CANCEL',
    kinds: ALL_KINDS,
    from: ['DEPLOY_FAILED'],
    to: 'DEPLOY_FAILED',
    who: ['author', 'LEAD'],
    comment: 'optional',
    enqueues: 'REVERT',
  },
  {
    action: 'REQUEST_ROLLBACK',
    kinds: ['ROLLBACK'],
    from: [null],
    to: 'AWAITING_APPROVAL',
    who: ['DEVELOPER'],
    comment: 'none',
  },
  // A full sync of the live release to drifted targets: approved and deployed like a rollback, no new tag.
  {
    action: 'REQUEST_REPAIR',
    kinds: ['REPAIR'],
    from: [null],
    to: 'AWAITING_APPROVAL',
    who: ['LEAD'],
    comment: 'none',
  },
  // A release that ran on one environment, asked for on the next: approved like a rollback (that environment's
  // requiredApprovals; none: it is approved when asked), then deployed; the same tag, nothing recomposed.
  {
    action: 'REQUEST_PROMOTION',
    kinds: ['PROMOTION'],
    from: [null],
    to: 'AWAITING_APPROVAL',
    who: ['DEVELOPER'],
    comment: 'none',
  },
  // One deployed release ticket undone, everything released since kept: prepared by the executor (what goes back,
  // with diffs), then approved like a rollback, then deployed as a new version.
  {
    action: 'REQUEST_REVERT',
    kinds: ['REVERT'],
    from: [null],
    to: 'PENDING_STAGING',
    who: ['DEVELOPER'],
    comment: 'none',
    enqueues: 'STAGE',
  },
];

/** The executor's transitions. */
export const SYSTEM_TRANSITIONS: Record<SystemAction, { from: TicketState; to: TicketState }> = {
  STAGED: { from: 'PENDING_STAGING', to: 'AWAITING_TEST' },
  STAGING_FAILED: { from: 'PENDING_STAGING', to: 'STAGING_FAILED' },
  DEPLOYED: { from: 'DEPLOYING', to: 'DEPLOYED' },
  DEPLOY_FAILED: { from: 'DEPLOYING', to: 'DEPLOY_FAILED' },
  // Rule 4: staging no longer holds what was tested; the ticket goes back to its author.
  STAGING_CHANGED: { from: 'DEPLOYING', to: 'RETURNED' },
  // A cancelled failed deploy: the targets that took the new version are back on the live one.
  REVERTED: { from: 'DEPLOY_FAILED', to: 'CANCELLED' },
  // A revert ticket's changes are known (the executor composed it): it waits for a lead, as a rollback does.
  PREPARED: { from: 'PENDING_STAGING', to: 'AWAITING_APPROVAL' },
};

/** States in which a ticket still holds its paths (rule 3). */
export const OPEN_STATES: readonly TicketState[] = [
  'PENDING_STAGING',
  'AWAITING_TEST',
  'AWAITING_APPROVAL',
  'APPROVED',
  'DEPLOYING',
  'STAGING_FAILED',
  'RETURNED',
  'DEPLOY_FAILED',
];

export interface Actor {
  userId: number;
  /** The actor's role in the ticket's project; null when not a member. */
  role: Role | null;
}

export interface TicketFacts {
  kind: TicketKind;
  state: TicketState | null;
  authorId: number | null;
}

export interface ProjectRules {
  allowSelfApproval: boolean;
  allowAuthorPassTest: boolean;
}

export class InvalidTransition extends SlipwayError {
  constructor(action: TicketAction, state: TicketState | null) {
    super('INVALID_TRANSITION', `cannot ${action.toLowerCase().replace('_', ' ')} a ticket that is ${state ?? 'new'}`, {
      action,
      state,
    });
  }
}

function mayAct(transition: Transition, ticket: TicketFacts, actor: Actor, project: ProjectRules): boolean {
  const isAuthor = ticket.authorId !== null && ticket.authorId === actor.userId;
  if (transition.notAuthor && isAuthor && !project[transition.notAuthor]) return false;
  return transition.who.some((who) =>
    who === 'author' ? isAuthor && actor.role !== null : roleAtLeast(actor.role, who),
  );
}

function transitionsFor(action: TicketAction, kind: TicketKind): Transition[] {
  return TRANSITIONS.filter((t) => t.action === action && t.kinds.includes(kind));
}

/** Checks one action; answers the transition to apply, or throws FORBIDDEN / INVALID_TRANSITION. */
export function decide(action: TicketAction, ticket: TicketFacts, actor: Actor, project: ProjectRules): Transition {
  const candidates = transitionsFor(action, ticket.kind);
  const allowed = candidates.filter((t) => mayAct(t, ticket, actor, project));
  if (allowed.length === 0) {
    const isAuthor = ticket.authorId === actor.userId;
    const rule = candidates.find((t) => t.notAuthor)?.notAuthor;
    if (rule === 'allowSelfApproval' && isAuthor && roleAtLeast(actor.role, 'LEAD'))
      throw new Forbidden('you cannot approve your own ticket in this project', 'OWN_TICKET_APPROVAL');
    if (rule === 'allowAuthorPassTest' && isAuthor && actor.role !== null)
      throw new Forbidden(
        'you cannot pass the test of your own ticket in this project: a tester does',
        'OWN_TICKET_TEST',
      );
    throw new Forbidden(`you may not ${action.toLowerCase().replace('_', ' ')} this ticket`);
  }
  const transition = allowed.find((t) => t.from.includes(ticket.state));
  if (!transition) throw new InvalidTransition(action, ticket.state);
  return transition;
}

/** What this actor may do to this ticket now: the buttons the console shows. */
export function availableActions(ticket: TicketFacts, actor: Actor, project: ProjectRules): TicketAction[] {
  const actions = new Set<TicketAction>();
  for (const t of TRANSITIONS) {
    if (t.from.includes(null)) continue;
    if (t.kinds.includes(ticket.kind) && t.from.includes(ticket.state) && mayAct(t, ticket, actor, project))
      actions.add(t.action);
  }
  return [...actions];
}

/** The least project role that can take an action at all (the scope check); the table decides the rest. */
export function minimumRole(action: TicketAction): Role {
  const roles = TRANSITIONS.filter((t) => t.action === action).flatMap((t) =>
    // An author acts with the role they hold, and only developers and above author tickets.
    t.who.map((who): Role => (who === 'author' ? 'DEVELOPER' : who)),
  );
  const order: Role[] = ['VIEWER', 'DEVELOPER', 'TESTER', 'LEAD'];
  return order.find((role) => roles.includes(role)) ?? 'LEAD';
}

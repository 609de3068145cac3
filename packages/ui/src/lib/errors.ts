import type { ApiError } from './client.ts';
import { formatDate, t } from './i18n.svelte.ts';

/**
 * What the console says for an API error, in the person's language: from `extensions.code` and its structured values
 * (the rule a BAD_USER_INPUT names, the ticket holding a path, the state a ticket is in…), never the server's own text.
 */
export function errorText(error: ApiError | null | undefined): string {
  if (!error) return '';
  const x = error.extensions;
  switch (error.code) {
    case 'BAD_USER_INPUT': {
      const problem = typeof x.problem === 'string' ? x.problem : 'notValid';
      const params = (x.params ?? {}) as Record<string, string>;
      return t(`problem.${problem}`, params);
    }
    case 'PATH_LOCKED':
      return t('error.PATH_LOCKED', {
        path: String(x.path ?? ''),
        held: String(x.heldPath ?? x.path ?? ''),
        id: String(x.heldBy ?? ''),
        state: x.heldState ? t(`state.${x.heldState}`) : '',
      });
    case 'INVALID_TRANSITION':
      if (x.reason === 'REVERTING') return t('error.REVERTING');
      if (typeof x.action === 'string' && typeof x.state === 'string')
        return t('error.INVALID_TRANSITION', { action: t(`action.${x.action}`), state: t(`state.${x.state}`) });
      return t('error.INVALID_TRANSITION_PLAIN');
    case 'FROZEN':
      return x.until
        ? t('error.FROZEN_UNTIL', { until: formatDate(String(x.until)), reason: String(x.reason ?? '') })
        : t('error.FROZEN', { reason: String(x.reason ?? '') });
    case 'FORBIDDEN':
      return x.reason === 'OWN_TICKET_APPROVAL' || x.reason === 'OWN_TICKET_TEST'
        ? t(`error.${x.reason}`)
        : t('error.FORBIDDEN');
    case 'UNKNOWN_FILES': {
      const targets = (x.targets ?? []) as { name: string; count: number }[];
      return t('error.UNKNOWN_FILES', {
        count: targets.reduce((sum, target) => sum + target.count, 0),
        targets: targets.map((target) => `${target.name}: ${target.count}`).join(', '),
      });
    }
    case 'REVERT_CONFLICT': {
      const tickets = (x.tickets ?? []) as { id: number; tag: string }[];
      return t('error.REVERT_CONFLICT', { tickets: tickets.map((later) => `#${later.id} (${later.tag})`).join(', ') });
    }
    case 'NOT_PROMOTABLE': {
      const why = typeof x.reason === 'string' ? x.reason : 'NEVER_LIVE';
      // A revert's refusal: the ticket's change is not part of what runs.
      if (why === 'NOT_LIVE' || why === 'NO_RELEASE' || why === 'NOT_A_RELEASE')
        return t(`error.REVERT.${why}`, { tag: String(x.tag ?? ''), environment: String(x.environment ?? '') });
      return t('error.NOT_PROMOTABLE', {
        tag: String(x.tag ?? ''),
        why: t(`error.NOT_PROMOTABLE.${why}`, { environment: String(x.environment ?? '') }),
      });
    }
    case 'BAKING':
      return t('error.BAKING', {
        tag: String(x.tag ?? ''),
        environment: String(x.environment ?? ''),
        minutes: Math.max(1, Math.ceil(Number(x.retryAfterSeconds ?? 60) / 60)),
      });
    case 'RATE_LIMITED':
      return t('error.RATE_LIMITED', { minutes: Math.max(1, Math.ceil(Number(x.retryAfterSeconds ?? 60) / 60)) });
    case 'UNAUTHENTICATED':
    case 'NOT_FOUND':
    case 'STAGING_CHANGED':
    case 'NETWORK':
      return t(`error.${error.code}`);
    default:
      return t('error.unknown', { code: error.code ?? '?' });
  }
}

/** The ticket a PATH_LOCKED error names, for a link next to the message. */
export function holdingTicket(error: ApiError | null | undefined): string | null {
  return error?.code === 'PATH_LOCKED' && error.extensions.heldBy != null ? String(error.extensions.heldBy) : null;
}

/**
 * An error as a form shows it: every problem of a BAD_USER_INPUT at its own field (the name after `input.`, up to
 * the first dot) when the form has that field, the rest under the form (`form`).
 */
export function fieldErrors(error: ApiError, fields: readonly string[]): Record<string, string> {
  const at = (field: string | undefined) => {
    const name = field?.replace(/^input\./, '').split('.')[0] ?? '';
    return fields.includes(name) ? name : 'form';
  };
  const problems =
    error.code === 'BAD_USER_INPUT' ? (error.extensions.problems as ProblemSeen[] | undefined) : undefined;
  if (!problems?.length) return { [at(error.field)]: errorText(error) };
  const errors: Record<string, string> = {};
  for (const problem of problems) errors[at(problem.field)] ??= t(`problem.${problem.problem}`, problem.params ?? {});
  return errors;
}
interface ProblemSeen {
  field: string;
  problem: string;
  params?: Record<string, string>;
}

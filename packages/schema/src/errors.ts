/** Error codes clients can rely on (`extensions.code`). */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'INVALID_TRANSITION'
  | 'PATH_LOCKED'
  | 'STAGING_CHANGED'
  | 'FROZEN'
  | 'RATE_LIMITED';

/** An expected failure whose message is safe to show to the user. */
export class SlipwayError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'SlipwayError';
  }
}

export class BadUserInput extends SlipwayError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super('BAD_USER_INPUT', `${field}: ${problem}`, { field });
  }
}

export class NotFound extends SlipwayError {
  constructor(what: string, id: string | number) {
    super('NOT_FOUND', `${what} ${id} does not exist`);
  }
}

export class Unauthenticated extends SlipwayError {
  constructor(message = 'sign in first', details: Record<string, unknown> = {}) {
    super('UNAUTHENTICATED', message, details);
  }
}

export class Forbidden extends SlipwayError {
  constructor(message = 'you are not allowed to do this') {
    super('FORBIDDEN', message);
  }
}

export class RateLimited extends SlipwayError {
  constructor(retryAfterSeconds: number) {
    super('RATE_LIMITED', `too many failed sign-ins; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}

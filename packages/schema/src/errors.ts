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
  | 'RATE_LIMITED'
  | 'UNKNOWN_FILES'
  | 'NOT_PROMOTABLE'
  | 'BAKING'
  | 'REVERT_CONFLICT';

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

/**
 * Every rule a BAD_USER_INPUT can name, as the English sentence the API says and a stable key (`extensions.problem`,
 * with the `{placeholders}` as `extensions.params`): clients say it in their own words and language.
 */
export const PROBLEMS = {
  tooShort: 'must be at least {n} characters',
  tooLong: 'must be at most {n} characters',
  notEmpty: 'must not be empty',
  required: 'is required',
  absolutePath: 'must be an absolute path',
  notRoot: 'must not be the root directory',
  noDotDot: 'must not contain ".."',
  noNul: 'must not contain NUL',
  noControl: 'must not contain control characters',
  noSpaceQuotes: 'must not contain white space, quotes or backslashes',
  noVcs: 'must not name .svn or .git',
  noDash: 'must not start with "-"',
  relativePath: 'must be relative to the working copy, not absolute',
  insideWorkingCopy: 'must name something inside the working copy',
  atLeastOnePath: 'must name at least one path',
  atMostPaths: 'must have at most {n} paths',
  atMostEntries: 'must have at most {n} entries',
  atMostAddresses: 'must have at most {n} addresses',
  atLeastOneEvent: 'must name at least one event',
  atLeastOneTarget: 'must name at least one target',
  atMostTargets: 'must name at most {n} targets',
  identifier: 'may contain letters, digits, ".", "_" and "-"',
  identifierSpaces: 'may contain letters, digits, spaces, ".", "_" and "-"',
  branchChars: 'may contain only letters, digits, ".", "_", "/" and "-"',
  invalidBranch: 'is not a valid branch name',
  poolName: 'must be 1-64 letters, digits, "_" or "-"',
  url: 'must be a URL starting with {schemes}',
  gitUrl: 'must be a URL or user@host:path',
  rsyncPattern: 'must be a pattern, not an rsync option or rule',
  phone: 'must be a phone number: digits, an optional leading "+", spaces or "-"',
  systemUser: 'must be a user name (letters, digits, "_", ".", "-")',
  email: 'must be an e-mail address',
  between: 'must be between {min} and {max}',
  atLeast: 'must be at least {n}',
  atMost: 'must be at most {n}',
  wholeNumber: 'must be a whole number',
  future: 'must be in the future',
  withinDays: 'must be within {n} days',
  invalidId: 'is not a valid id',
  cursor: 'is not a cursor from this connection',
  gitOnly: 'applies to git sources only',
  requiredForKind: 'is required for this kind of channel',
  hostRequired: 'is required when port or user is given',
  wrongPassword: 'is wrong',
  directoryPassword: 'is the company directory’s: change it there',
  directoryAccount: 'signs in with the company directory: reset it there',
  directoryField: 'comes from the company directory: change it there',
  notYourself: 'you cannot disable yourself',
  loginTaken: '"{login}" is already taken',
  projectExists: 'a project named "{name}" already exists',
  targetExists: 'the project already has a target named "{name}"',
  openTickets: 'the project has {n} open ticket(s): finish or cancel them first',
  archived: 'the project is archived: an admin can unarchive it',
  notReady: 'the project is not ready yet',
  noLiveRelease: 'the project has no live release to restore',
  alreadyLive: '{tag} is already live',
  nothingScheduled: 'no deploy of this ticket is scheduled',
  targetTwice: 'names a target twice',
  everyTarget: 'must name every target of the project ({n}), in order',
  notProjectTarget: "target {id} is not one of the project's targets",
  noSuchTargets: 'the project has no target {ids}',
  stagingTaken: 'is already the staging path of project {name}',
  stagingOverlaps: 'overlaps {path}, the staging path of project {name}',
  noTestAddress: 'the channel has no fixed addresses and your profile has no e-mail to test with',
  otherProject: 'is not a release of the same project',
  notValid: 'is not valid',
  notPattern: 'must be a path, not a pattern (no *, ?, [ or \\)',
  supersededPath: 'is where Slipway keeps what shared paths replaced',
  overlapsPath: 'overlaps {path}',
  sharedPath: '{path} is a shared path of the project ({shared}): it belongs to the servers and is never shipped',
  semicolon: 'must not contain ";"',
  localTarget: 'is a local path: it has no host key',
  ownKnownHosts:
    "the project names its own known_hosts file ({path}): add the key there, or clear the project's knownHostsPath to use Slipway's",
  testFirst: 'test the connection to {target} first: Slipway trusts only a key the target has shown it',
  notShownKey: 'is not the host key {target} shows ({shown}): test the connection again and compare',
} as const;
export type Problem = keyof typeof PROBLEMS;

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const MATCHERS = (Object.entries(PROBLEMS) as [Problem, string][]).map(([key, template]) => {
  const names: string[] = [];
  const pattern = template
    .split(/(\{\w+\})/)
    .map((part) => {
      const name = /^\{(\w+)\}$/.exec(part)?.[1];
      if (!name) return escapeRegex(part);
      names.push(name);
      return '(.+?)';
    })
    .join('');
  return { key, names, regex: new RegExp(`^${pattern}$`) };
});

/** Which rule an English problem sentence states, and its values; null for one the table does not know. */
export function problemOf(text: string): { problem: Problem; params: Record<string, string> } | null {
  for (const { key, names, regex } of MATCHERS) {
    const found = regex.exec(text);
    if (found) return { problem: key, params: Object.fromEntries(names.map((name, i) => [name, found[i + 1] ?? ''])) };
  }
  return null;
}

/** One problem of an input: the field it is in, the rule (for clients to say in their words) and the text. */
export interface InputProblem {
  field: string;
  problem: Problem | 'notValid';
  params: Record<string, string>;
  message: string;
}

const inputProblem = (field: string, text: string): InputProblem => ({
  field,
  ...(problemOf(text) ?? { problem: 'notValid' as const, params: {} }),
  message: text,
});

/**
 * Bad input: the first problem in `field`/`problem`/`params`, and every problem found (a form shows each at its
 * field, not one at a time) in `problems`.
 */
export class BadUserInput extends SlipwayError {
  constructor(
    readonly field: string,
    problem: string,
    others: { field: string; message: string }[] = [],
  ) {
    const first = inputProblem(field, problem);
    super('BAD_USER_INPUT', `${field}: ${problem}`, {
      field,
      problem: first.problem,
      params: first.params,
      problems: [first, ...others.map((other) => inputProblem(other.field, other.message))],
    });
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
  /** `reason`: why, for clients to say in their own words (e.g. OWN_TICKET_APPROVAL). */
  constructor(message = 'you are not allowed to do this', reason?: string) {
    super('FORBIDDEN', message, reason ? { reason } : {});
  }
}

export class RateLimited extends SlipwayError {
  constructor(retryAfterSeconds: number) {
    super('RATE_LIMITED', `too many failed sign-ins; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}

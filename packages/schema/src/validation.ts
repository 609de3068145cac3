import { posix } from 'node:path';
import { z } from 'zod';
import { BadUserInput } from './errors.ts';

// Control characters (C0, DEL, C1) are never part of a name, path or URL we accept.
// biome-ignore lint/suspicious/noControlCharactersInRegex: this is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const noControl = (s: string) => !CONTROL.test(s);

export const textLine = (max: number) =>
  z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`).refine(noControl, {
    message: 'must not contain control characters',
  });

export const multilineText = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !s.includes('\u0000'), { message: 'must not contain NUL' });

export const absolutePath = z
  .string()
  .max(4096, 'must be at most 4096 characters')
  .refine(noControl, { message: 'must not contain control characters' })
  .refine((p) => p.startsWith('/'), { message: 'must be an absolute path' })
  .refine((p) => !p.split('/').includes('..'), { message: 'must not contain ".."' })
  .refine((p) => posix.normalize(p) !== '/', { message: 'must not be the root directory' })
  .transform((p) => posix.normalize(p).replace(/\/$/, ''));

const urlWithScheme = (schemes: string[]) =>
  z
    .string()
    .max(2000, 'must be at most 2000 characters')
    .refine(noControl, { message: 'must not contain control characters' })
    .refine(
      (value) => {
        try {
          const url = new URL(value);
          return schemes.includes(url.protocol.slice(0, -1)) && (url.protocol === 'file:' || url.hostname !== '');
        } catch {
          return false;
        }
      },
      { message: `must be a URL starting with ${schemes.map((s) => `${s}://`).join(', ')}` },
    );

export const svnUrl = urlWithScheme(['svn', 'svn+ssh', 'http', 'https', 'file']);
/** git also takes scp-like `user@host:path`; never anything that git could read as an option. */
export const gitUrl = z.union([
  urlWithScheme(['https', 'http', 'ssh', 'git', 'file']),
  z
    .string()
    .max(2000)
    .regex(/^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+$/, 'must be a URL or user@host:path'),
]);
export const httpUrl = urlWithScheme(['http', 'https']);

/** A git branch name as `git check-ref-format --branch` would take it, minus anything option-like. */
/** An e-mail address as a mail server takes it (one address, no display name). */
export const emailAddress = z
  .string()
  .max(254, 'must be at most 254 characters')
  .regex(/^[^\s@<>,;]+@[^\s@<>,;]+\.[^\s@<>,;]+$/, 'must be an e-mail address');

export const branchName = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .regex(/^[A-Za-z0-9._/-]+$/, 'may contain only letters, digits, ".", "_", "/" and "-"')
  .refine((b) => !b.startsWith('-') && !b.startsWith('/') && !b.endsWith('/') && !b.endsWith('.lock'), {
    message: 'is not a valid branch name',
  })
  .refine((b) => !b.includes('..') && !b.includes('//') && !b.endsWith('.'), { message: 'is not a valid branch name' });

export const rsyncExclude = z
  .string()
  .min(1, 'must not be empty')
  .max(500, 'must be at most 500 characters')
  .refine(noControl, { message: 'must not contain control characters' })
  .refine((p) => !p.startsWith('-') && !p.startsWith('+ ') && !p.startsWith('- '), {
    message: 'must be a pattern, not an rsync option or rule',
  });

export const hostName = z
  .string()
  .max(253, 'must be at most 253 characters')
  .regex(
    /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[?[0-9A-Fa-f:.]+\]?)$/,
    'must be a host name or an IP address',
  )
  .transform((h) => h.replace(/^\[(.*)\]$/, '$1'));

export const systemUser = z
  .string()
  .max(32, 'must be at most 32 characters')
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be a user name (letters, digits, "_", ".", "-")');

export const identifierName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'may contain letters, digits, spaces, ".", "_" and "-"');

export const intRange = (min: number, max: number) =>
  z.number().int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

/** Parses with a zod schema and turns the first problem into a BAD_USER_INPUT naming the field. */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown, prefix: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const [issue, ...others] = result.error.issues.map((found) => ({
    field: [prefix, ...found.path.map(String)].filter((p) => p !== '').join('.'),
    message: found.message,
  }));
  throw new BadUserInput(issue?.field ?? prefix, issue?.message ?? 'is not valid', others);
}

/**
 * Rule 2: a ticket path is a relative path inside the working copy. Absolute paths, `..`, a leading `-`, NUL and
 * control characters are refused; `.svn` and `.git` are version-control metadata, never content.
 */
export const ticketPath = z
  .string()
  .min(1, 'must not be empty')
  .max(1024, 'must be at most 1024 characters')
  .refine(noControl, { message: 'must not contain control characters' })
  .refine((p) => !p.startsWith('/'), { message: 'must be relative to the working copy, not absolute' })
  .refine((p) => !p.startsWith('-'), { message: 'must not start with "-"' })
  .refine((p) => !p.split('/').includes('..'), { message: 'must not contain ".."' })
  .refine((p) => !p.split('/').some((part) => part === '.svn' || part === '.git'), {
    message: 'must not name .svn or .git',
  })
  .transform((p) => posix.normalize(p).replace(/\/+$/, ''))
  .refine((p) => p !== '.' && p !== '' && !p.startsWith('-'), {
    message: 'must name something inside the working copy',
  });

export const ticketPaths = z
  .array(ticketPath)
  .min(1, 'must name at least one path')
  .max(500, 'must have at most 500 paths')
  .transform((paths) => [...new Set(paths)].sort());

/** The start of a ticket path, as typed (for suggestions): empty, or relative, with no ".." and no control character. */
export const pathPrefix = z
  .string()
  .max(1024, 'must be at most 1024 characters')
  .refine(noControl, { message: 'must not contain control characters' })
  .refine((p) => !p.startsWith('/'), { message: 'must be relative to the working copy, not absolute' })
  .refine((p) => !p.split('/').includes('..'), { message: 'must not contain ".."' });

/** Rule 3: a path and any path under it conflict. */
export function pathsConflict(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/**
 * A shared path (uploads, logs: the servers', not the releases'): a ticket path that is also a literal rsync pattern
 * (no `*`, `?`, `[` or a backslash), not Slipway's own `.superseded`.
 */
export const sharedPath = ticketPath
  .refine((p) => !/[*?[\\]/.test(p), { message: 'must be a path, not a pattern (no *, ?, [ or \\)' })
  .refine((p) => p.split('/')[0] !== '.superseded', { message: 'is where Slipway keeps what shared paths replaced' });

export const sharedPaths = z
  .array(sharedPath)
  .max(50, 'must have at most 50 entries')
  .transform((paths) => [...new Set(paths)].sort())
  .superRefine((paths, ctx) => {
    for (const [i, a] of paths.entries())
      for (const b of paths.slice(i + 1))
        if (pathsConflict(a, b)) ctx.addIssue({ code: 'custom', path: [i], message: `overlaps ${b}` });
  });

/** Whether a ticket path lies at or under a shared path (or holds one): such paths are never shipped. */
export function sharedPathOf(path: string, shared: string[]): string | undefined {
  return shared.find((s) => pathsConflict(path, s));
}

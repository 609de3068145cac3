import { type DbOrTx, EventFailure, releases, tickets } from '@slipway/schema';
import { eq } from 'drizzle-orm';
import { execa } from 'execa';
import { commitHeader, quotePath } from './compose.ts';
import { tag } from './layout.ts';
import { gitOutput, gitSucceeds } from './tools/git.ts';
import type { RunOptions } from './tools/run.ts';

type TicketRow = typeof tickets.$inferSelect;
type ReleaseRow = typeof releases.$inferSelect;

const TRAILER = 'Slipway-Ticket';

/** The release ticket a revert undoes, and its release. */
export async function revertedOf(
  db: DbOrTx,
  revert: Pick<TicketRow, 'revertsTicketId'>,
): Promise<{ ticket: TicketRow; release: ReleaseRow }> {
  const id = revert.revertsTicketId ?? 0;
  const [ticket] = await db.select().from(tickets).where(eq(tickets.id, id));
  if (!ticket) throw new Error(`the ticket to revert (#${id}) does not exist`);
  const [release] = ticket.releaseId ? await db.select().from(releases).where(eq(releases.id, ticket.releaseId)) : [];
  if (!release) throw new Error(`ticket #${id} made no release: there is nothing to revert`);
  return { ticket, release };
}

/**
 * The ledger's word on a revert, before anything is composed: the reverted release is in the history of what is live
 * (else REVERT_NOT_LIVE), and no commit since it touched its paths (else REVERT_CONFLICT, naming their tickets).
 */
export async function assertRevertable(
  ledger: string,
  reverted: { ticket: TicketRow; release: ReleaseRow },
  live: ReleaseRow,
  options: RunOptions,
): Promise<void> {
  const version = tag(reverted.release.number);
  if (!(await gitSucceeds(ledger, ['merge-base', '--is-ancestor', version, live.commit], options)))
    throw new EventFailure({ key: 'REVERT_NOT_LIVE', params: { version, live: tag(live.number) } });
  const touched = await gitOutput(
    ledger,
    [
      // Paths are names, never patterns (a ticket path may hold `*` or start with `:`).
      '--literal-pathspecs',
      'log',
      `--format=%(trailers:key=${TRAILER},valueonly,separator=)`,
      `${version}..${live.commit}`,
      '--',
      ...reverted.ticket.paths,
    ],
    { ...options, quietStdout: true },
  );
  const ids = [
    ...new Set(
      touched
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean),
    ),
  ];
  if (ids.length)
    throw new EventFailure({ key: 'REVERT_CONFLICT', params: { tickets: ids.map((id) => `#${id}`).join(', ') } });
}

export interface RevertInput {
  ledger: string;
  /** What the revert builds on: the live release's commit. */
  base: string;
  /** Where the paths are taken from: the commit the reverted release was built on (its parent). */
  from: string;
  paths: string[];
  ref: string;
  author: { name: string; email: string };
  message: string;
}

/**
 * A revert's commit without a work tree: the live tree with each reverted path replaced by what it was before the
 * reverted release (mode and content as the ledger has them; a path that was not there is removed), written by one
 * `git fast-import` that names the old blobs by their ids (nothing is read or copied).
 */
export async function composeRevertCommit(input: RevertInput, options: RunOptions): Promise<string> {
  const listing = await gitOutput(
    input.ledger,
    ['--literal-pathspecs', 'ls-tree', '-r', '-z', '--full-tree', input.from, '--', ...input.paths],
    { ...options, quietStdout: true },
  );
  const entries = listing
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const [meta = '', path = ''] = line.split('\t');
      const [mode = '', , id = ''] = meta.split(' ');
      return { mode, id, path };
    });
  const script = [
    'feature done',
    ...commitHeader(input.ref, 1, input.author, input.message),
    `from ${input.base}`,
    ...input.paths.map((path) => `D ${quotePath(path)}`),
    ...entries.map((entry) => `M ${entry.mode} ${entry.id} ${quotePath(entry.path)}`),
    '',
    'get-mark :1',
    'done',
    '',
  ].join('\n');
  const result = await execa('git', ['-C', input.ledger, 'fast-import', '--quiet', '--done'], {
    input: script,
    reject: false,
    cancelSignal: options.signal,
  });
  if (result.exitCode !== 0) throw new Error(`git fast-import failed: ${String(result.stderr).trim()}`);
  const commit = String(result.stdout).trim();
  if (!/^[0-9a-f]{40,64}$/.test(commit)) throw new Error(`git fast-import answered no commit: ${commit}`);
  return commit;
}

import { execa } from 'execa';
import { Fingerprinter, walkPaths } from './fingerprint.ts';
import type { RunOptions } from './tools/run.ts';

export interface ComposeInput {
  ledger: string;
  /** The commit the release builds on (the live version). */
  base: string;
  /** Where the ticket's paths are taken from (staging), as they are: no filter, no line-ending conversion. */
  root: string;
  paths: string[];
  /** The ref the commit is written to: `refs/tags/vN` for a release, a scratch ref for a preview. */
  ref: string;
  author: { name: string; email: string };
  message: string;
  /** The commit is written only if the content has this fingerprint (rule 4: what was tested). */
  expectedFingerprint: string | null;
}

export type ComposeResult = { written: true; commit: string } | { written: false; fingerprint: string };

/** git's mode for a file: executable or not, as `git add` would record it. */
const fileMode = (mode: number) => (mode & 0o100 ? '100755' : '100644');

/**
 * Rule 5 without a work tree: the release's commit is the base tree with each ticket path replaced by what `root`
 * holds now (a path gone from it is deleted), written by one `git fast-import` from one read of each file — the same
 * read the fingerprint is taken from, so the commit holds exactly the content that was checked. When the fingerprint
 * is not the expected one, nothing is written (fast-import ends without `done`, so no ref is touched).
 */
export async function composeCommit(input: ComposeInput, options: RunOptions): Promise<ComposeResult> {
  const importer = execa('git', ['-C', input.ledger, 'fast-import', '--quiet', '--done'], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    cancelSignal: options.signal,
  });
  const stdin = importer.stdin;
  if (!stdin) throw new Error('git fast-import has no stdin');
  const write = (chunk: string | Buffer) =>
    new Promise<void>((resolve, reject) => stdin.write(chunk, (error) => (error ? reject(error) : resolve())));
  const data = async (content: Buffer | string) => {
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    await write(`data ${bytes.length}\n`);
    await write(bytes);
    await write('\n');
  };

  const fingerprinter = new Fingerprinter();
  const changes: string[] = input.paths.map((path) => `D ${quotePath(path)}\n`);
  let mark = 0;
  await write('feature done\n');
  for await (const entry of walkPaths(input.root, input.paths)) {
    fingerprinter.add(entry);
    if (entry.kind !== 'file' && entry.kind !== 'link') continue;
    mark++;
    await write(`blob\nmark :${mark}\n`);
    await data(entry.kind === 'file' ? entry.content : entry.target);
    changes.push(`M ${entry.kind === 'file' ? fileMode(entry.mode) : '120000'} :${mark} ${quotePath(entry.path)}\n`);
  }
  const fingerprint = fingerprinter.digest();
  if (input.expectedFingerprint !== null && fingerprint !== input.expectedFingerprint) {
    // No `done`: fast-import fails and writes no ref.
    stdin.destroy();
    await importer;
    return { written: false, fingerprint };
  }
  for (const line of commitHeader(input.ref, mark + 1, input.author, input.message)) await write(`${line}\n`);
  await write(`from ${input.base}\n`);
  for (const change of changes) await write(change);
  await write(`\nget-mark :${mark + 1}\ndone\n`);
  stdin.end();
  const result = await importer;
  if (result.exitCode !== 0) throw new Error(`git fast-import failed: ${String(result.stderr).trim()}`);
  const commit = String(result.stdout).trim();
  if (!/^[0-9a-f]{40,64}$/.test(commit)) throw new Error(`git fast-import answered no commit: ${commit}`);
  return { written: true, commit };
}

/**
 * A fast-import commit's first lines: its ref and mark, the author (the ticket's), Slipway as committer, and the
 * message (counted in bytes, then its text).
 */
export function commitHeader(
  ref: string,
  mark: number,
  author: { name: string; email: string },
  message: string,
): string[] {
  const now = Math.floor(Date.now() / 1000);
  return [
    `commit ${ref}`,
    `mark :${mark}`,
    `author ${author.name.replace(/[<>]/g, '')} <${author.email.replace(/[<>\s]/g, '')}> ${now} +0000`,
    `committer Slipway <slipway@localhost> ${now} +0000`,
    `data ${Buffer.byteLength(message)}`,
    message,
  ];
}

/** A path as fast-import reads it: C-style quoted when it has a quote, a newline or starts with one. */
export function quotePath(path: string): string {
  if (!/["\\\n]/.test(path) && !path.startsWith('"')) return path;
  return `"${path.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;
}

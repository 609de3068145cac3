import type { targets } from '@slipway/schema';
import { CommandFailed, type RunOptions, run } from './tools/run.ts';
import { type JobConnections, type SshSettings, shellQuote, sshArgs } from './tools/ssh.ts';

export type TargetRow = typeof targets.$inferSelect;

/** Release directories are `v<number>`; anything else under `releases/` is never taken for one. */
export const RELEASE = /^v\d+$/;

/** Lines a script prints for Slipway (not for the log). */
const REPORT = '@@slipway:';

/** What a target said about itself at the end of a script. */
export interface TargetReport {
  /** Marks the script printed (`linked`, `present`, `switched`, `missing`, …). */
  marks: Set<string>;
  /** Release directories present (`v3`, `v4`, …). */
  releases: string[];
  /** The release `current` points to (atomic layout), or null. */
  current: string | null;
  /** Where `current` pointed before a switch. */
  previous: string | null;
}

function parseReport(stdout: string): TargetReport {
  const report: TargetReport = { marks: new Set(), releases: [], current: null, previous: null };
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(REPORT)) continue;
    const [key = '', ...rest] = line.slice(REPORT.length).split(' ');
    const value = rest
      .join(' ')
      .trim()
      .replace(/^releases\//, '');
    if (key === 'releases') report.releases = rest.filter((r) => RELEASE.test(r));
    else if (key === 'current') report.current = RELEASE.test(value) ? value : null;
    else if (key === 'previous') report.previous = RELEASE.test(value) ? value : null;
    else report.marks.add(key);
  }
  return report;
}

export interface Hook {
  command: string;
  env: Record<string, string>;
}

/**
 * Everything Slipway does on a target besides rsync, as POSIX shell scripts built from validated, quoted words: run
 * by `sh -c` for a local target, and as one remote command over the job's ssh connection for an ssh target. One
 * script per step, so a step costs one round trip whatever it does (list, link, switch, prune, hooks).
 * Atomic layout (Capistrano's): `<path>/releases/vN` and the symlink `<path>/current` → `releases/vN`.
 */
export class TargetShell {
  private readonly base: string;

  constructor(
    readonly target: TargetRow,
    private readonly ssh: SshSettings,
    private readonly connections: JobConnections,
    private readonly options: RunOptions,
  ) {
    this.base = shellQuote(target.path);
  }

  /** The job's connection to this target (opened by the first step), for rsync; null for a local target. */
  async controlPath(): Promise<string | undefined> {
    return this.target.host ? this.connections.connect(this.target, this.options) : undefined;
  }

  /** Runs a script on the target (one round trip); answers its stdout. */
  private async exec(script: string, what: string, input?: string, quietStdout = false): Promise<string> {
    const full = `${REPORT_FUNCTION}\n${script}`;
    const options: RunOptions = {
      ...this.options,
      reportPrefix: REPORT,
      input,
      quietStdout,
      shownAs: `${this.target.name}: ${what}`,
    };
    try {
      return this.target.host
        ? await run('ssh', [...sshArgs(this.target, this.ssh, await this.controlPath()), full], options)
        : await run('sh', ['-c', full], { ...options, processGroup: true });
    } catch (error) {
      // A hook that failed says so itself (its last line on stderr).
      if (error instanceof CommandFailed && error.exitCode === HOOK_FAILED)
        throw new Error(error.stderrTail.split(' / ').at(-1) || 'a hook failed');
      throw error;
    }
  }

  private async run(script: string, what: string, input?: string): Promise<TargetReport> {
    return parseReport(await this.exec(script, what, input));
  }

  private report(): string {
    return `slipway_report ${this.base}`;
  }

  /**
   * Whether a deploy could work here: rsync installed (`rsync`), and the path writable (`writable`) or, when it does
   * not exist yet, creatable by the deploy user (`creatable`). Changes nothing.
   */
  check(): Promise<TargetReport> {
    return this.run(
      `if command -v rsync >/dev/null 2>&1; then echo ${REPORT}rsync; fi
if [ -d ${this.base} ]; then
  t=$(mktemp ${this.base}/.slipway-check.XXXXXX 2>/dev/null) && rm -f -- "$t" && echo ${REPORT}writable
else
  p=$(dirname -- ${this.base})
  while [ ! -e "$p" ] && [ ! -L "$p" ]; do p=$(dirname -- "$p"); done
  [ -d "$p" ] && [ -w "$p" ] && echo ${REPORT}creatable
fi
true`,
      'check rsync and the path',
    );
  }

  /**
   * Atomic, phase 1: makes `releases/.vN.tmp` ready for the upload. When `releases/vN` is there already, nothing is
   * to do (`present`); when `linkFrom` is given and there, the new release starts as a hard-link copy of it with
   * `remove` (the changed and deleted paths, sent on stdin) taken out and `emptied` directories removed (`linked`);
   * otherwise a full upload follows (`full`, a partial one from an earlier attempt kept to resume).
   */
  prepareRelease(
    version: string,
    linkFrom: string | null,
    remove: string[],
    emptied: string[],
    spare: boolean,
  ): Promise<TargetReport> {
    assertRelease(version);
    if (linkFrom) assertRelease(linkFrom);
    const tmp = shellQuote(`releases/.${version}.tmp`);
    const link = linkFrom
      ? `elif [ -d releases/${linkFrom} ]; then
  ${linkCopy(linkFrom, tmp, spare)}
  (cd ${tmp} && xargs -0 -r rm -rf --)
  ${rmdirs(tmp, emptied)}
  echo ${REPORT}linked`
      : '';
    return this.run(
      `set -e
mkdir -p ${this.base}/releases
cd ${this.base}
if [ -d releases/${version} ]; then echo ${REPORT}present
${link}
else echo ${REPORT}full
fi
${this.report()}`,
      linkFrom ? `make releases/${version} from ${linkFrom}` : `look at releases/ for ${version}`,
      linkFrom ? remove.map((p) => `${p}\0`).join('') : undefined,
    );
  }

  /**
   * Atomic, phase 1 in the upload's own round trip (ssh targets): rsync's remote side is started by a script that
   * first makes `releases/.vN.tmp` a hard-link copy of `releases/<linkFrom>` without `remove`, or stops before the
   * transfer, saying why on stderr: `present` (vN is there already) or `nobase` (linkFrom is not). Null when the
   * lists are too long for a command line (then prepareRelease and a plain upload do it in two).
   */
  linkedUploadCommand(
    version: string,
    linkFrom: string,
    remove: string[],
    emptied: string[],
    spare: boolean,
  ): string | null {
    assertRelease(version);
    assertRelease(linkFrom);
    const words = remove.map(shellQuote).join(' ');
    if (words.length + emptied.join(' ').length > INLINE_LIMIT) return null;
    const tmp = shellQuote(`releases/.${version}.tmp`);
    return remoteRsync(`set -e
mkdir -p ${this.base}/releases
cd ${this.base}
if [ -d releases/${version} ]; then echo ${REPORT}present >&2; exit 42; fi
if [ ! -d releases/${linkFrom} ]; then echo ${REPORT}nobase >&2; exit 43; fi
${linkCopy(linkFrom, tmp, spare)}
cd ${tmp}
${remove.length > 0 ? `rm -rf -- ${words}` : ''}
${rmdirs('.', emptied)}`);
  }

  /** rsync's remote side (ssh targets) that runs only when `dir` exists, else stops before any transfer (`absent`). */
  rsyncIfPresent(dir: string): string {
    return remoteRsync(`[ -d ${shellQuote(dir)} ] || { echo ${REPORT}absent >&2; exit 44; }`);
  }

  /** Atomic, a full upload (ssh targets): rsync's remote side, unless `releases/vN` is there already (`present`). */
  fullUploadCommand(version: string): string {
    assertRelease(version);
    return remoteRsync(`set -e
mkdir -p ${this.base}/releases
if [ -d ${this.base}/releases/${version} ]; then echo ${REPORT}present >&2; exit 42; fi`);
  }

  /**
   * In place, a changed-files sync in one round trip (ssh targets): once rsync has put the new files in, the remote
   * side deletes what the release deleted and removes the directories it no longer has (when empty). Null when the
   * lists are too long for a command line (then finishInPlace does it).
   */
  inPlaceCommand(deleted: string[], emptied: string[]): string | null {
    const words = deleted.map(shellQuote).join(' ');
    if (words.length + emptied.join(' ').length > INLINE_LIMIT) return null;
    if (deleted.length === 0 && emptied.length === 0) return null;
    return remoteRsync(
      '',
      `cd ${this.base} && {
${deleted.length > 0 ? `rm -f -- ${words} 2>/dev/null || true` : ''}
${rmdirs('.', emptied)}
} >&2`,
    );
  }

  /**
   * Atomic, phase 1: the upload is whole: `releases/.vN.tmp` becomes `releases/vN`, its shared paths are linked; then
   * the preDeploy hook in it.
   */
  finishRelease(version: string, preDeploy: Hook | null, shared: string[]): Promise<TargetReport> {
    assertRelease(version);
    const tmp = shellQuote(`releases/.${version}.tmp`);
    return this.run(
      `set -e
cd ${this.base}
if [ -d ${tmp} ]; then rm -rf -- releases/${version}; mv -- ${tmp} releases/${version}; fi
test -d releases/${version}
${shareScript(version, shared)}
${hookScript('preDeploy', preDeploy, `${this.target.path}/releases/${version}`)}
${this.report()}`,
      `finish releases/${version}${preDeploy ? ', preDeploy hook' : ''}`,
    );
  }

  /**
   * Atomic, phase 2 (and a whole rollback): when `releases/vN` is there, runs the preDeploy hook (rollbacks), points
   * `current` at it by renaming a new link over the old one (never a moment without one), runs the postDeploy hook,
   * and prunes to the newest `keep` releases, never the new one nor the one it replaced. A failing postDeploy hook
   * switches back at once (exit 3). `missing` when the release is not on the target. With `promote`, a whole upload
   * still named `releases/.vN.tmp` becomes `releases/vN` first (a deploy without a preDeploy hook saves a round trip).
   */
  switchTo(
    version: string,
    hooks: { preDeploy: Hook | null; postDeploy: Hook | null },
    keep: number,
    promote: boolean,
    spare: boolean,
    shared: string[],
  ) {
    assertRelease(version);
    // The shell's own expansion: the release `current` pointed at before the switch.
    const previousRelease = `"\${prev#releases/}"`;
    const tmp = shellQuote(`releases/.${version}.tmp`);
    return this.run(
      `set -e
cd ${this.base}
${promote ? `if [ -d ${tmp} ]; then rm -rf -- releases/${version}; mv -- ${tmp} releases/${version}; fi` : ''}
prev=$(readlink current 2>/dev/null || true)
echo "${REPORT}previous $prev"
if [ ! -d releases/${version} ]; then echo ${REPORT}missing; ${this.report()}; exit 0; fi
${shareScript(version, shared)}
${hookScript('preDeploy', hooks.preDeploy, `${this.target.path}/releases/${version}`)}
ln -sfn releases/${version} .current-$$ && mv -Tf .current-$$ current
echo ${REPORT}switched
${hookScript(
  'postDeploy',
  hooks.postDeploy,
  `${this.target.path}/current`,
  `if [ -n "$prev" ]; then echo ${shellQuote(this.target.name)}": switching back to \${prev#releases/}"; ln -sfn "$prev" .current-$$ && mv -Tf .current-$$ current; fi`,
)}
ls -1 releases | grep -E '^v[0-9]+$' | sort -t v -k 2 -n -r | tail -n +${keep + 1} | while read -r r; do
  if [ "$r" != ${version} ] && [ "$r" != ${previousRelease} ]; then mv -- "releases/$r" "releases/.$r.pruned"; fi
done
${IDLE}
${this.target.host ? 'conn=$PPID' : 'conn='}
${spareCopy(version, spare)}
# A pruned release is gone from releases/ at once; its files are deleted in the background (thousands of unlinks).
if ls -d releases/.*.pruned >/dev/null 2>&1; then ( (after_deploy; slipway_idle rm -rf -- releases/.*.pruned) </dev/null >/dev/null 2>&1 & ); fi
${this.report()}`,
      `switch current to ${version}${hooks.postDeploy ? ', postDeploy hook' : ''}, keep ${keep}`,
    );
  }

  /** The releases present and where `current` points (atomic layout), changing nothing. */
  look(): Promise<TargetReport> {
    return this.run(this.report(), 'where does current point?');
  }

  /**
   * The contents of regular files under `root` (relative paths), each when it is at most `maxBytes` long (null:
   * missing, not a regular file, or longer), in one round trip.
   */
  async readFiles(root: string, paths: string[], maxBytes: number): Promise<(Buffer | null)[]> {
    if (paths.length === 0) return [];
    const stdout = await this.exec(
      `cd ${shellQuote(root)} 2>/dev/null || exit 0
for f in ${paths.map(shellQuote).join(' ')}; do
  if [ -f "$f" ] && [ ! -L "$f" ] && [ "$(wc -c < "$f")" -le ${maxBytes} ]; then printf 'F%s\\n' "$(base64 -w0 -- "$f")"; else echo N; fi
done`,
      `read ${paths.length} file(s) to compare`,
      undefined,
      true,
    );
    const lines = stdout.split('\n');
    return paths.map((_, i) => {
      const line = lines[i] ?? 'N';
      return line.startsWith('F') ? Buffer.from(line.slice(1), 'base64') : null;
    });
  }

  /** Whether the target's path is missing or empty (nothing served there yet). */
  async isEmpty(): Promise<boolean> {
    const report = await this.run(
      `if [ -d ${this.base} ] && [ -n "$(ls -A ${this.base} 2>/dev/null)" ]; then echo ${REPORT}occupied; fi`,
      'is the path empty?',
    );
    return !report.marks.has('occupied');
  }

  /** Points `current` back at an earlier release (a failed health check). */
  switchBack(version: string): Promise<TargetReport> {
    assertRelease(version);
    return this.run(
      `set -e
cd ${this.base}
test -d releases/${version}
ln -sfn releases/${version} .current-$$ && mv -Tf .current-$$ current
${this.report()}`,
      `switch current back to ${version}`,
    );
  }

  /** Runs a hook in `dir` (created if missing), with the SLIPWAY_* variables. */
  async hook(which: 'preDeploy' | 'postDeploy', hook: Hook, dir: string): Promise<void> {
    await this.run(`set -e\n${hookScript(which, hook, dir)}`, `${which} hook in ${dir}`);
  }

  /**
   * In place, after a changed-files sync: deletes what the release deleted (sent on stdin), removes the directories
   * it no longer has (when empty: one holding excluded files stays, as with rsync --delete), then the postDeploy hook.
   */
  async finishInPlace(deleted: string[], emptied: string[], postDeploy: Hook | null): Promise<void> {
    if (deleted.length === 0 && emptied.length === 0 && !postDeploy) return;
    await this.run(
      `set -e
cd ${this.base}
xargs -0 -r rm -f -- 2>/dev/null || true
${rmdirs('.', emptied)}
${hookScript('postDeploy', postDeploy, this.target.path)}`,
      [
        deleted.length ? `delete ${deleted.length} file(s)` : '',
        emptied.length ? `remove ${emptied.length} dir(s)` : '',
        postDeploy ? 'postDeploy hook' : '',
      ]
        .filter(Boolean)
        .join(', '),
      deleted.map((p) => `${p}\0`).join(''),
    );
  }
}

/** Longer change lists go to the target on stdin, in a round trip of their own, rather than on a command line. */
const INLINE_LIMIT = 64 * 1024;

/**
 * rsync's `--rsync-path` for a remote side wrapped in a script: `before` runs first (its stdout is rsync's channel:
 * it must print nothing there), the rsync server next, then `after` once it succeeded.
 */
function remoteRsync(before: string, after = ''): string {
  return `sh -c ${shellQuote(`${before}\nrsync "$@" || exit $?\n${after}`)} slipway-rsync`;
}

/** Where a target keeps its spare link copy of a release (spareCopy makes it, linkCopy uses it). */
const spareOf = (version: string) => `releases/.${version}.spare`;
/**
 * Who makes the spare copy of a release: created (never overwritten) when the copy begins — its time is when — and
 * then holding the copying process's pid and the name of its part; or created empty by a deploy that links its own
 * copy, so that no copier starts after it for nothing.
 */
const claimOf = (version: string) => `releases/.${version}.spare.pid`;

/**
 * Makes `tmp` a hard-link copy of `releases/<from>`: the spare copy of it when one is ready (see spareCopy: a rename,
 * no linking while the deploy waits); else, when the spare is still being made (deploys back to back), what it has
 * linked so far, the rest linked now; else `cp -al` (one link per file: ~0.15 s of kernel time for 10,000 files).
 */
function linkCopy(from: string, tmp: string, useSpare: boolean): string {
  const spare = spareOf(from);
  const claim = claimOf(from);
  const link = `cp -al releases/${from} ${tmp}`;
  if (!useSpare) return `rm -rf -- ${tmp}\n${link}`;
  // A spare copy lacks what was added to the release (or removed from it) after it began — an upload the application
  // wrote into the live release: a directory of the release modified since (its time is the spare's) makes it stale.
  const unchangedSince = (time: string) =>
    `[ -z "$(find releases/${from} -type d -newer ${time} -print -quit 2>/dev/null)" ]`;
  // The ready spare becomes the copy: tried first, and again when a copy under way completed as it was being taken.
  const takeSpare = `[ -d ${spare} ] && ${unchangedSince(spare)} && mv -T -- ${spare} ${tmp} 2>/dev/null`;
  // Taking over a copy under way: its part is renamed first (cp works by path: what it links next fails, and its
  // shell deletes nothing that is not under the part's own name), then it is stopped, then the rest is linked.
  // Only a part whose copier is still running (its command line names the part) and that began after the release's
  // last change is taken.
  return `rm -rf -- ${tmp}
slipway_take() {
  [ -f ${claim} ] && read -r pid part < ${claim} 2>/dev/null || return 1
  case "$part" in releases/.${from}.spare.part.*) ;; *) return 1 ;; esac
  [ -d "$part" ] && tr '\\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$part" || return 1
  ${unchangedSince(claim)} || return 1
  mv -T -- "$part" ${tmp} 2>/dev/null || return 1
  kill "$pid" 2>/dev/null || true
  n=0
  while kill -0 "$pid" 2>/dev/null && [ $n -lt 200 ]; do sleep 0.05 2>/dev/null || sleep 1; n=$((n + 1)); done
}
if ${takeSpare}; then :
elif slipway_take; then
  # What is there already is kept (cp 9.2-9.4 answer 1 and say so for each file kept): the count says it is whole.
  cp -al -n releases/${from}/. ${tmp}/ 2>/dev/null || true
  [ "$(cd releases/${from} && find . | wc -l)" = "$(cd ${tmp} && find . | wc -l)" ] || { echo "could not complete the link copy of ${from}" >&2; exit 1; }
elif ${takeSpare}; then :
else
  (set -C; : > ${claim}) 2>/dev/null || true
  ${link}
fi`;
}

/**
 * Background work on a target (pruning, the spare copy) starts once the deploy is over there (`after_deploy`: over
 * ssh, when the job's connection — `$conn`, the sshd process that started the script — has closed), and runs through
 * `slipway_idle`: only when the server has nothing else to do (SCHED_IDLE and the idle I/O class where the system
 * allows them, else nice 19), never at the expense of what it serves. Its file descriptors are closed, so the ssh
 * session ends without waiting for it; everything it costs happens after the session.
 */
const IDLE = `slipway_idle() {
  set -- nice -n 19 "$@"
  if command -v chrt >/dev/null 2>&1 && chrt -i 0 true 2>/dev/null; then set -- chrt -i 0 "$@"; fi
  if command -v ionice >/dev/null 2>&1 && ionice -c 3 true 2>/dev/null; then set -- ionice -c 3 "$@"; fi
  exec "$@"
}
after_deploy() {
  n=0
  if [ -n "$conn" ] && [ "$conn" != 1 ]; then while [ $n -lt 18000 ] && kill -0 "$conn" 2>/dev/null; do sleep 0.2 2>/dev/null || sleep 1; n=$((n + 1)); done; fi
}`;

/**
 * After a switch to `version` (atomic layout): spare copies of other releases go to pruning, and a hard-link copy of
 * `version` is made in the background (see IDLE), as `releases/.<version>.spare` (complete or absent:
 * built under a name of its own, renamed when done), so the next deploy, which builds on the live release, starts
 * from it. It holds no file of its own: only links and directories. Not for a project with excludes: files a target
 * keeps in excluded paths of its release must come along as they are at the deploy, so those link while it waits.
 */
function spareCopy(version: string, make: boolean): string {
  const spare = spareOf(version);
  const claim = claimOf(version);
  const part = `${spare}.part.$$`;
  // Background work of an earlier deploy may rename (a part that completes) or delete (a pruned one) any of these
  // between the test and the move: what is gone is gone, and never fails the switch.
  const prune = `for s in releases/.v*.spare releases/.v*.spare.part.*; do
  case "$s" in *.pruned${make ? `|${spare}|${spare}.part.*` : ''}) continue ;; esac
  if [ -d "$s" ]; then mv -- "$s" "$s.pruned" 2>/dev/null || true; fi
done
rm -f -- releases/.v*.spare.pid releases/.v*.spare.pid.new`;
  if (!make) return prune;
  // The copy starts only while the release is live and nobody claimed it (a deploy that came first links its own);
  // the spare's own time is the claim's, when the copy began (cp -a gives it the release's): see linkCopy. A part
  // that fails is renamed before it is deleted, so a deploy that took it over (renamed it) loses nothing.
  return `${prune}
if [ ! -d ${spare} ]; then
  ( (after_deploy
    [ "$(readlink current 2>/dev/null)" = releases/${version} ] || exit 0
    (set -C; : > ${claim}) 2>/dev/null || exit 0
    slipway_idle cp -al releases/${version} ${part} &
    copier=$!
    echo "$copier ${part}" > ${claim}.new && touch -r ${claim} ${claim}.new && mv -f -- ${claim}.new ${claim}
    if wait "$copier" && touch -r ${claim} ${part} && mv -T -- ${part} ${spare}; then :
    elif mv -T -- ${part} ${part}.pruned 2>/dev/null; then rm -rf -- ${part}.pruned; fi
    rm -f -- ${claim}
  ) </dev/null >/dev/null 2>&1 & )
fi`;
}

function assertRelease(name: string): void {
  if (!RELEASE.test(name)) throw new Error(`not a release: ${name}`);
}

/**
 * Atomic: links each shared path of `releases/<version>` to `shared/<path>`, where what the servers write there (uploads,
 * logs) stays across releases and rollbacks (Capistrano's linked_dirs). A shared path made the first time starts as a
 * copy of what the live release holds there, so nothing is lost when a project begins to share it; anything a release
 * itself held at a shared path is moved aside to `shared/.superseded/<version>/`, never deleted. Links are relative
 * (`../../shared/uploads`), so the tree can move.
 */
function shareScript(version: string, paths: string[]): string {
  if (paths.length === 0) return '';
  const calls = paths.map(
    (p) =>
      `slipway_share ${version} ${shellQuote(p)} ${shellQuote(`${'../'.repeat(p.split('/').length + 1)}shared/${p}`)}`,
  );
  return `slipway_share() {
  s="shared/$2"; r="releases/$1/$2"
  if [ ! -e "$s" ] && [ ! -L "$s" ]; then
    mkdir -p -- "$(dirname -- "$s")"
    if [ -d "current/$2" ] && [ ! -L "current/$2" ]; then cp -a -- "current/$2" "$s.part.$$" && mv -T -- "$s.part.$$" "$s"
    else mkdir -p -- "$s"; fi
  fi
  if [ -L "$r" ]; then
    if [ "$(readlink -- "$r")" = "$3" ]; then return 0; fi
    rm -f -- "$r"
  elif [ -e "$r" ]; then
    mkdir -p -- "$(dirname -- "shared/.superseded/$1/$2")"
    mv -T -- "$r" "shared/.superseded/$1/$2.$$"
  fi
  mkdir -p -- "$(dirname -- "$r")"
  ln -s -- "$3" "$r"
}
${calls.join('\n')}`;
}

/** Removes directories (deepest first) where they are empty; a directory holding excluded files stays, as rsync keeps it. */
function rmdirs(root: string, dirs: string[]): string {
  if (dirs.length === 0) return ':';
  const deepestFirst = [...dirs].sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
  return `for d in ${deepestFirst.map(shellQuote).join(' ')}; do rmdir -- ${root}/"$d" 2>/dev/null || true; done`;
}

/**
 * A hook (shell the project admin wrote) in a subshell, in `dir`, with its variables exported. When it fails, `onFail`
 * runs, the failure is said on stderr, and the script exits with 3 (a failed hook, not a failed step).
 */
function hookScript(which: 'preDeploy' | 'postDeploy', hook: Hook | null, dir: string, onFail = ':'): string {
  if (!hook) return '';
  const exports = Object.entries(hook.env)
    .map(([k, v]) => `${k}=${shellQuote(v)}`)
    .join(' ');
  return `hook_status=0
(
mkdir -p ${shellQuote(dir)} && cd ${shellQuote(dir)}
export ${exports}
${hook.command}
) || hook_status=$?
if [ "$hook_status" != 0 ]; then
  ${onFail}
  echo "the ${which} hook exited with $hook_status" >&2
  exit ${HOOK_FAILED}
fi`;
}

/** The exit status of a script whose hook failed. */
export const HOOK_FAILED = 3;

/** Prints the releases present and where `current` points: the last thing every script says. */
const REPORT_FUNCTION = `slipway_report() {
  printf '%s' '${REPORT}releases'
  for r in "$1"/releases/v*; do [ -d "$r" ] && printf ' %s' "\${r##*/}"; done
  printf '\\n${REPORT}current %s\\n' "$(readlink "$1"/current 2>/dev/null || true)"
}`;

import { execa } from 'execa';
import type { LogSink } from '../log-sink.ts';

export class CommandFailed extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderrTail: string,
    /** Report lines (see RunOptions.reportPrefix) the command printed on stderr before it failed. */
    readonly reports: string[] = [],
    /** The last lines it printed on stderr (the message keeps three). */
    readonly stderrLines: string[] = [],
  ) {
    super(
      `${command} failed${exitCode === undefined ? '' : ` (exit ${exitCode})`}${stderrTail ? `: ${stderrTail}` : ''}`,
    );
    this.name = 'CommandFailed';
  }
}

export interface RunOptions {
  cwd?: string;
  sink: LogSink;
  signal: AbortSignal;
  env?: Record<string, string>;
  /** Exit codes that are not failures (e.g. rsync's 24: files vanished). */
  okExitCodes?: number[];
  /** Do not copy stdout into the job log (it is data, e.g. a file list). */
  quietStdout?: boolean;
  /** At most `lines` stdout lines (of those `matching`, when given) go into the job log; the rest are counted. */
  stdoutLogLimit?: { lines: number; matching?: RegExp };
  /** What the command reads on stdin (e.g. a NUL-separated file list); nothing by default. */
  input?: string | Buffer;
  /** Shown in the log instead of the command line (a long remote script says what it does in a few words). */
  shownAs?: string;
  /** Runs the command as the leader of a process group, all of which is killed when the job is aborted. */
  processGroup?: boolean;
  /** Lines starting with this are a script's report to Slipway (stdout: answered; stderr: in the failure), not logged. */
  reportPrefix?: string;
}

const display = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`);

/**
 * Runs one external command with an argument array (never a shell), streaming its lines into the job log, and
 * answers its stdout. Aborting the signal kills it.
 */
export async function run(file: string, args: string[], options: RunOptions): Promise<string> {
  const { sink } = options;
  const shown = options.shownAs ?? [file, ...args].map(display).join(' ');
  sink.system(`$ ${shown}${options.cwd ? `   (in ${options.cwd})` : ''}`);
  const limit = options.stdoutLogLimit;
  let limited = 0;
  const logLine = (text: string) => {
    const counted = limit && (!limit.matching || limit.matching.test(text));
    if (!(options.reportPrefix && text.startsWith(options.reportPrefix)) && (!counted || ++limited <= limit.lines))
      sink.line('STDOUT', text);
  };
  const stderrLines: string[] = [];
  const reports: string[] = [];
  const child = execa(file, args, {
    cwd: options.cwd,
    // GIT_SSL_NO_VERIFY in the executor's environment would switch git's certificate checks off: never passed on.
    env: { LC_ALL: 'C.UTF-8', GIT_TERMINAL_PROMPT: '0', GIT_SSL_NO_VERIFY: undefined, ...options.env },
    cancelSignal: options.signal,
    // A shell script's children (a hook's commands) are killed with it: it leads a process group of its own.
    detached: options.processGroup === true,
    reject: false,
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    // stdout is read here, not by a line transform of execa's: a first sync itemizes every file (10,000 lines a
    // target), and a transform per line cost more CPU than rsync's own side of the copy.
    stdout: 'pipe',
    buffer: { stdout: false },
    stderr: [
      function* (line: unknown) {
        const text = String(line);
        if (options.reportPrefix && text.startsWith(options.reportPrefix)) reports.push(text);
        else {
          stderrLines.push(text);
          if (stderrLines.length > 20) stderrLines.shift();
          sink.line('STDERR', text);
        }
        yield line;
      },
    ],
    maxBuffer: 256 * 1024 * 1024,
  });
  const stdout = readStdout(child.stdout, options.quietStdout ? null : logLine);
  const killGroup = () => {
    if (child.pid)
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
  };
  if (options.processGroup) options.signal.addEventListener('abort', killGroup, { once: true });
  const result = await child.finally(() => options.signal.removeEventListener('abort', killGroup));
  const output = stdout.end();
  if (limit && limited > limit.lines) sink.system(`… ${limited - limit.lines} more line(s) like these not shown`);
  if (options.signal.aborted) throw options.signal.reason ?? new Error('aborted');
  if (result.failed && !(result.exitCode !== undefined && options.okExitCodes?.includes(result.exitCode))) {
    const tail = stderrLines.slice(-3).join(' / ') || (result.originalMessage ?? '');
    throw new CommandFailed(file, result.exitCode, tail, reports, stderrLines);
  }
  return output;
}

/**
 * Collects a child's stdout as text (without its final newline, as execa answers it) and hands each line to `line`
 * (without its line ending), splitting chunks itself: no per-line machinery. `end` is called once execa has answered:
 * execa waits for the stream to end (or fail) before it does, so every chunk is in.
 */
function readStdout(stream: NodeJS.ReadableStream | null, line: ((text: string) => void) | null) {
  const chunks: string[] = [];
  let partial = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    chunks.push(chunk);
    if (!line) return;
    const text = partial + chunk;
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      line(text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end));
      start = end + 1;
    }
    partial = text.slice(start);
  });
  return {
    end(): string {
      if (line && partial) line(partial.endsWith('\r') ? partial.slice(0, -1) : partial);
      partial = '';
      const all = chunks.join('');
      return all.endsWith('\n') ? all.slice(0, all.endsWith('\r\n') ? -2 : -1) : all;
    },
  };
}

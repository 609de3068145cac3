import { execa } from 'execa';
import type { LogSink } from '../log-sink.ts';

export class CommandFailed extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderrTail: string,
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
}

const display = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`);

/**
 * Runs one external command with an argument array (never a shell), streaming its lines into the job log, and
 * answers its stdout. Aborting the signal kills it.
 */
export async function run(file: string, args: string[], options: RunOptions): Promise<string> {
  const { sink } = options;
  const shown = [file, ...args].map(display).join(' ');
  sink.system(`$ ${shown}${options.cwd ? `   (in ${options.cwd})` : ''}`);
  const toLog = (stream: 'STDOUT' | 'STDERR') =>
    function* (line: unknown) {
      sink.line(stream, String(line));
      yield line;
    };
  const stderrLines: string[] = [];
  const result = await execa(file, args, {
    cwd: options.cwd,
    env: { LC_ALL: 'C.UTF-8', GIT_TERMINAL_PROMPT: '0', ...options.env },
    cancelSignal: options.signal,
    reject: false,
    stdin: 'ignore',
    stdout: options.quietStdout ? ['pipe'] : [toLog('STDOUT')],
    stderr: [
      function* (line: unknown) {
        stderrLines.push(String(line));
        if (stderrLines.length > 20) stderrLines.shift();
        sink.line('STDERR', String(line));
        yield line;
      },
    ],
    maxBuffer: 256 * 1024 * 1024,
  });
  if (options.signal.aborted) throw options.signal.reason ?? new Error('aborted');
  if (result.failed && !(result.exitCode !== undefined && options.okExitCodes?.includes(result.exitCode))) {
    const tail = stderrLines.slice(-3).join(' / ') || (result.originalMessage ?? '');
    throw new CommandFailed(file, result.exitCode, tail);
  }
  return typeof result.stdout === 'string' ? result.stdout : String(result.stdout ?? '');
}

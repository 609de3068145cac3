import { mkdir, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { targets } from '@slipway/schema';
import { execa } from 'execa';
import type { SshSettings } from './tools/rsync.ts';
import type { RunOptions } from './tools/run.ts';
import { shellQuote, sshRun } from './tools/ssh.ts';

export type TargetRow = typeof targets.$inferSelect;

/**
 * What the deploy engine does on a target besides rsync, in Capistrano's layout for atomic mode:
 * `<path>/releases/vN` and the symlink `<path>/current` → `releases/vN`. Local targets use the file system
 * directly; ssh targets get one remote command line per operation, built from validated, quoted words.
 */
export interface TargetOps {
  /** Release directories present (`v3`, `v4`, …). */
  releases(): Promise<string[]>;
  /** The release `current` points to, or null. */
  current(): Promise<string | null>;
  /** Points `current` at `releases/<name>` by renaming a new link over the old: never a moment without one. */
  switchTo(name: string): Promise<void>;
  removeRelease(name: string): Promise<void>;
  /** Runs a hook command (a shell command the project admin wrote) in `dir`, with SLIPWAY_* variables. */
  hook(command: string, dir: string, env: Record<string, string>): Promise<void>;
}

const RELEASE = /^v\d+$/;

export function targetOps(target: TargetRow, ssh: SshSettings, options: RunOptions): TargetOps {
  return target.host ? remoteOps(target, ssh, options) : localOps(target, options);
}

function localOps(target: TargetRow, options: RunOptions): TargetOps {
  const base = target.path;
  return {
    async releases() {
      const names = await readdir(join(base, 'releases')).catch(() => [] as string[]);
      return names.filter((n) => RELEASE.test(n));
    },
    async current() {
      const link = await readlink(join(base, 'current')).catch(() => null);
      return link?.replace(/^releases\//, '') ?? null;
    },
    async switchTo(name) {
      await stat(join(base, 'releases', name));
      const temporary = join(base, `.current-${process.pid}-${Date.now()}`);
      await symlink(`releases/${name}`, temporary);
      await rename(temporary, join(base, 'current'));
      options.sink.system(`${target.name}: current → releases/${name}`);
    },
    async removeRelease(name) {
      if (!RELEASE.test(name)) throw new Error(`not a release: ${name}`);
      await rm(join(base, 'releases', name), { recursive: true, force: true });
    },
    async hook(command, dir, env) {
      await mkdir(dir, { recursive: true });
      options.sink.system(`${target.name}: hook in ${dir}: ${command}`);
      const result = await execa('sh', ['-c', command], {
        cwd: dir,
        env,
        reject: false,
        stdin: 'ignore',
        all: true,
        cancelSignal: options.signal,
      });
      for (const line of (result.all ?? '').split('\n')) if (line) options.sink.line('STDOUT', line);
      if (result.exitCode !== 0) throw new Error(`hook exited with ${result.exitCode ?? result.signal}`);
    },
  };
}

function remoteOps(target: TargetRow, ssh: SshSettings, options: RunOptions): TargetOps {
  const base = shellQuote(target.path);
  const quiet = { ...options, quietStdout: true };
  return {
    async releases() {
      const out = await sshRun(target, ssh, `ls -1 ${base}/releases 2>/dev/null || true`, quiet);
      return out.split('\n').filter((n) => RELEASE.test(n));
    },
    async current() {
      const out = await sshRun(target, ssh, `readlink ${base}/current || true`, quiet);
      return out.trim().replace(/^releases\//, '') || null;
    },
    async switchTo(name) {
      if (!RELEASE.test(name)) throw new Error(`not a release: ${name}`);
      const temporary = `${base}/.current-$$`;
      await sshRun(
        target,
        ssh,
        `test -d ${base}/releases/${name} && ln -sfn releases/${name} ${temporary} && mv -Tf ${temporary} ${base}/current`,
        options,
      );
      options.sink.system(`${target.name}: current → releases/${name}`);
    },
    async removeRelease(name) {
      if (!RELEASE.test(name)) throw new Error(`not a release: ${name}`);
      await sshRun(target, ssh, `rm -rf -- ${base}/releases/${name}`, options);
    },
    async hook(command, dir, env) {
      const exports = Object.entries(env)
        .map(([k, v]) => `${k}=${shellQuote(v)}`)
        .join(' ');
      options.sink.system(`${target.name}: hook in ${dir}: ${command}`);
      await sshRun(
        target,
        ssh,
        `mkdir -p ${shellQuote(dir)} && cd ${shellQuote(dir)} && export ${exports} && ${command}`,
        options,
      );
    },
  };
}

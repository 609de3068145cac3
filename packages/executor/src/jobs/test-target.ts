import { jobs, type TargetCheck, targets } from '@slipway/schema';
import { eq } from 'drizzle-orm';
import { describeHostKey, judgeHostKey, knownKeysFor, scanHostKeys } from '../host-keys.ts';
import { TargetShell } from '../targets.ts';
import { knownHostsFiles, SshConnectFailed } from '../tools/ssh.ts';
import type { JobHandler } from './context.ts';
import { finishWith } from './finish.ts';

/**
 * TEST_TARGET: checks one target the way a deploy will use it — over ssh (reached, host key known, key accepted), then
 * rsync installed and the path writable — and changes nothing. The host key the target shows is reported with its
 * fingerprint, known or not (or changed), for an admin to compare and trust (trustHostKey). A target that fails a
 * check fails the job, saying what.
 */
export const testTarget: JobHandler = {
  async perform(context) {
    const { targetId } = context.job.payload as { targetId: number };
    const [target] = await context.db.select().from(targets).where(eq(targets.id, targetId));
    const check: TargetCheck = {
      targetId,
      host: target?.host ?? null,
      port: target?.port ?? null,
      reachable: null,
      hostKey: null,
      hostKeys: [],
      hostKeyKnown: null,
      signedIn: null,
      rsyncPresent: null,
      pathWritable: null,
      ok: false,
      problem: null,
    };
    const say = (passed: boolean, what: string) => context.sink.system(`${passed ? '✓' : '✗'} ${what}`);
    if (!target) check.problem = `target ${targetId} no longer exists`;
    else {
      const where = target.host
        ? `${target.user ? `${target.user}@` : ''}${target.host}${target.port ? `:${target.port}` : ''}`
        : 'the executor host';
      context.sink.system(`checking ${target.name}: ${where}:${target.path}`);
      const shell = new TargetShell(target, context.ssh, context.connections, context.run);
      let connected = !target.host;
      if (target.host) {
        // What the host shows (ssh-keyscan, no sign-in) against what Slipway's (or the project's) known_hosts holds.
        const [scan, known] = await Promise.all([
          scanHostKeys(target.host, target.port, context.signal),
          knownKeysFor(knownHostsFiles(context.ssh), target.host, target.port),
        ]);
        check.hostKeys = scan.keys;
        check.hostKey = judgeHostKey(scan.keys, known);
        if (check.hostKey && !check.hostKey.known) {
          // Not connected: ssh would refuse this key. An admin compares the fingerprint and trusts it (or not).
          Object.assign(check, {
            reachable: true,
            hostKeyKnown: false,
            problem: describeHostKey(where, check.hostKey),
          });
          say(false, check.problem as string);
        } else
          try {
            await shell.controlPath();
            Object.assign(check, { reachable: true, hostKeyKnown: true, signedIn: true });
            connected = true;
            say(true, `ssh reached ${where}, the host key is known and the key was accepted`);
          } catch (error) {
            if (!(error instanceof SshConnectFailed)) throw error;
            check.problem = error.message;
            if (error.reason === 'UNREACHED') check.reachable = false;
            else Object.assign(check, { reachable: true, hostKeyKnown: error.reason !== 'HOST_KEY' });
            if (error.reason === 'AUTH') check.signedIn = false;
            say(false, error.message);
          }
      }
      if (connected) {
        const report = await shell.check();
        check.rsyncPresent = report.marks.has('rsync');
        check.pathWritable = report.marks.has('writable') || report.marks.has('creatable');
        say(check.rsyncPresent, check.rsyncPresent ? 'rsync is installed' : `rsync is not installed on ${where}`);
        say(
          check.pathWritable,
          report.marks.has('writable')
            ? `${target.path} is writable`
            : report.marks.has('creatable')
              ? `${target.path} does not exist yet; the first deploy can create it`
              : `${target.path} is not writable by ${target.host ? (target.user ?? 'the ssh user') : 'the executor'}`,
        );
        if (!check.rsyncPresent) check.problem = `rsync is not installed on ${where}: install it there`;
        else if (!check.pathWritable)
          check.problem = `${target.path} on ${where} is not writable by ${target.host ? (target.user ?? 'the ssh user') : 'the executor'}`;
      }
      check.ok = check.problem === null;
    }
    context.sink.system(check.ok ? 'the target is ready for a deploy' : `not ready: ${check.problem}`);
    await finishWith(
      context,
      check.ok ? { state: 'SUCCEEDED' } : { state: 'FAILED', error: check.problem ?? 'the check failed' },
      undefined,
      async (tx) => {
        await tx.update(jobs).set({ result: check }).where(eq(jobs.id, context.job.id));
      },
    );
  },
  async fail(context, error) {
    await finishWith(context, { state: 'FAILED', error: error.message });
  },
};

/**
 * Time from `pnpm start` to the first answered /healthz, on an empty data dir and on a warm one,
 * and the resident memory of the server process when idle. Prints a table.
 *   pnpm bench:startup [runs]
 */
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@slipway/schema';
import { execa } from 'execa';
import { repoRoot } from '../support/slipway.ts';

const runs = Number(process.argv[2] ?? 5);

async function untilHealthy(url: string, started: number, child: { exitCode: number | null }): Promise<number> {
  for (;;) {
    if (child.exitCode !== null) throw new Error('Slipway exited');
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.status === 200) return performance.now() - started;
    } catch {}
    await sleep(5);
  }
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** A node process of Slipway's (`pnpm start` runs the server under a shell, the server the executor): a descendant of pnpm. */
async function slipwayPid(ancestor: number, entry: string): Promise<number> {
  const { stdout } = await execa('pgrep', ['-f', `^\\S*node .*${entry}`]);
  for (const pid of stdout.trim().split('\n').map(Number)) {
    let parent = pid;
    while (parent > 1) {
      if (parent === ancestor) return pid;
      parent = Number(/PPid:\s+(\d+)/.exec(await readFile(`/proc/${parent}/status`, 'utf8'))?.[1] ?? 1);
    }
  }
  throw new Error('server process not found');
}

async function once(dataDir: string, measureMemory: boolean) {
  const port = await freePort();
  const started = performance.now();
  const child = execa('pnpm', ['start'], {
    cwd: repoRoot,
    env: { PORT: String(port), SLIPWAY_DATA_DIR: dataDir, SLIPWAY_ADMIN_PASSWORD: 'bench password' },
    reject: false,
    stdio: 'ignore',
  });
  const ms = await untilHealthy(`http://127.0.0.1:${port}`, started, child);
  let rss = 0;
  let executorRss = 0;
  if (measureMemory) {
    await sleep(3000);
    rss = await rssKiB(await slipwayPid(child.pid as number, 'packages/server/dist/main.js'));
    executorRss = await rssKiB(await slipwayPid(child.pid as number, 'packages/executor/dist/main.js'));
  }
  child.kill('SIGTERM');
  await child;
  return { ms, rss, executorRss };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const empty: number[] = [];
const warm: number[] = [];
const rss: number[] = [];
const executorRss: number[] = [];
for (let i = 0; i < runs; i++) {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-'));
  await chmod(dir, 0o755);
  const dataDir = join(dir, 'data');
  empty.push((await once(dataDir, false)).ms);
  const second = await once(dataDir, true);
  warm.push(second.ms);
  rss.push(second.rss);
  executorRss.push(second.executorRss);
  await rm(dir, { recursive: true, force: true });
}

console.log(`Slipway start-up, ${runs} runs each (median, min–max)`);
console.log('| measure | median | min | max |');
console.log('| --- | --- | --- | --- |');
const row = (name: string, xs: number[], unit: string, scale = 1) =>
  console.log(
    `| ${name} | ${(median(xs) / scale).toFixed(0)} ${unit} | ${(Math.min(...xs) / scale).toFixed(0)} ${unit} | ${(Math.max(...xs) / scale).toFixed(0)} ${unit} |`,
  );
row('`pnpm start` → first /healthz 200, empty data dir', empty, 'ms');
row('`pnpm start` → first /healthz 200, warm data dir', warm, 'ms');
row('server RSS when idle (3 s after start)', rss, 'MiB', 1024);
row('executor RSS when idle (3 s after start)', executorRss, 'MiB', 1024);

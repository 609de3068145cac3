/**
 * Deploy fan-out and rollback, Slipway against what users would use instead, on the same data and targets:
 *   - one changed file in a 10,000-file tree to 1, 10 and 50 ssh targets on 127.0.0.1: Slipway's whole deploy job
 *     vs plain rsync (sequential and 10 in parallel) vs Ansible's `synchronize` module (forks 10);
 *   - rollback to the previous version on 1 and 50 targets: atomic mode (symlink switch) vs re-rsync (in place).
 * Fan-out: medians of 3 runs; rollback: one run each. Run: `pnpm bench` (this is its second part) or `node --import tsx test/bench/fanout.ts`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@slipway/executor';
import { connect, EMBEDDED_APP_ROLE, jobs, migrate, startEmbeddedPostgres, users } from '@slipway/schema';
import { hashPassword } from '@slipway/server/auth/passwords';
import { createSession } from '@slipway/server/auth/tokens';
import { createSlipwayServer } from '@slipway/server/http';
import { eq } from 'drizzle-orm';
import { execa } from 'execa';
import { pino } from 'pino';
import { startSshd } from '../support/sshd.ts';
import { SvnRepo } from '../support/svn.ts';

const FILES = 10_000;
const RUNS = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const seconds = (x: number) => `${(x / 1000).toFixed(2)} s`;

const dir = await mkdtemp(join(tmpdir(), 'slipway-fanout-'));
await chmod(dir, 0o755);
const postgres = await startEmbeddedPostgres(join(dir, 'pg'));
await migrate(postgres.url, { appRole: EMBEDDED_APP_ROLE });
const database = connect(postgres.appUrl, { max: 10 });
const server = await createSlipwayServer({ database, logger: pino({ level: 'silent' }) });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const worker = new Worker(
  database,
  {
    databaseUrl: postgres.appUrl,
    dataDir: join(dir, 'data'),
    pool: 'default',
    concurrency: 2,
    leaseSeconds: 60,
    pollSeconds: 1,
    publicUrl: undefined,
    logLevel: 'silent',
  },
  pino({ level: 'silent' }),
);
await worker.start();
const [admin] = await database.db
  .insert(users)
  .values({ login: 'admin', name: 'Admin', passwordHash: await hashPassword('x'), isAdmin: true })
  .returning();
const adminId = admin?.id as number;
const token = (await createSession(database.db, adminId)).token;

async function gql(query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: a benchmark reads the answers field by field
  const body = (await response.json()) as { data?: Record<string, any>; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  // biome-ignore lint/suspicious/noExplicitAny: as above
  return body.data as Record<string, any>;
}
async function until<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const tree: Record<string, string> = { 'www/changing.txt': 'v0\n' };
for (let i = 0; i < FILES; i++)
  tree[`www/f${Math.floor(i / 500)}/p${i}.html`] = `<p>${i} ${randomBytes(64).toString('hex')}</p>\n`;
await mkdir(join(dir, 'repo'));
const svn = await SvnRepo.create(join(dir, 'repo'), tree);
const sshd = await startSshd(dir);
const sshOptions = { sshKeyPath: sshd.keyPath, knownHostsPath: sshd.knownHostsPath };

async function project(name: string, count: number, mode: 'IN_PLACE' | 'ATOMIC') {
  const created = await gql('mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }', {
    i: {
      name,
      sourceType: 'SVN',
      sourceUrl: svn.url,
      stagingPath: join(dir, `staging-${name}`),
      deployMode: mode,
      parallelism: 10,
      ...sshOptions,
    },
  });
  const id = created.createProject.id as string;
  for (let i = 0; i < count; i++) {
    await gql('mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }', {
      p: id,
      t: {
        name: `t${i}`,
        host: '127.0.0.1',
        port: sshd.port,
        user: sshd.user,
        path: join(dir, 'targets', name, `t${i}`),
      },
    });
  }
  await gql('mutation($p: ID!, $u: ID!) { setMember(projectId: $p, userId: $u, role: LEAD) { id } }', {
    p: id,
    u: adminId,
  });
  await gql('mutation($p: ID!) { updateProject(id: $p, input: { allowSelfApproval: true }) { id } }', { p: id });
  await until(
    () => gql('query($p: ID!) { project(id: $p) { ready initError } }', { p: id }),
    (d) => d.project.ready || d.project.initError,
  );
  return id;
}

/** A ticket changing www/changing.txt, deployed; answers the deploy job's own duration (ms). */
async function release(projectId: string, content: string): Promise<number> {
  await svn.commit('change', { 'www/changing.txt': content });
  const t = await gql('mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }', {
    i: { projectId, reason: 'bench', paths: ['www/changing.txt'] },
  });
  const id = t.submitTicket.id;
  await until(
    () => gql('query($id: ID!) { ticket(id: $id) { state } }', { id }),
    (d) => d.ticket.state === 'AWAITING_TEST',
  );
  await gql('mutation($id: ID!) { passTest(id: $id) { id } }', { id });
  await gql('mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
  await gql('mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
  return finished(id);
}

async function finished(ticketId: string): Promise<number> {
  const done = await until(
    () => gql('query($id: ID!) { ticket(id: $id) { state jobs { id kind } } }', { id: ticketId }),
    (d) => d.ticket.state === 'DEPLOYED' || d.ticket.state === 'DEPLOY_FAILED',
  );
  if (done.ticket.state !== 'DEPLOYED') throw new Error(`deploy failed: ${JSON.stringify(done)}`);
  const jobId = Number(done.ticket.jobs.at(-1).id);
  const [job] = await database.db.select().from(jobs).where(eq(jobs.id, jobId));
  return (job?.finishedAt?.getTime() ?? 0) - (job?.startedAt?.getTime() ?? 0);
}

/** Plain rsync of the same release tree to the same kind of targets (own directories), as an ops script would. */
async function plainRsync(source: string, name: string, count: number, parallel: number): Promise<number> {
  const args = (i: number) => [
    '-a',
    '--delete',
    '--mkpath',
    '--exclude=.git',
    '-e',
    `ssh -o BatchMode=yes -o UserKnownHostsFile=${sshd.knownHostsPath} -i ${sshd.keyPath} -p ${sshd.port}`,
    `${source}/`,
    `${sshd.user}@127.0.0.1:${join(dir, 'targets', name, `t${i}`)}/`,
  ];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await execa('rsync', args(next++));
    }),
  );
  return performance.now() - started;
}

async function ansible(source: string, name: string, count: number): Promise<number> {
  const inventory = join(dir, `inventory-${name}`);
  await writeFile(
    inventory,
    `${Array.from(
      { length: count },
      (_, i) =>
        `t${i} ansible_host=127.0.0.1 ansible_port=${sshd.port} ansible_user=${sshd.user} target_path=${join(dir, 'targets', name, `t${i}`)}`,
    ).join(
      '\n',
    )}\n[all:vars]\nansible_ssh_private_key_file=${sshd.keyPath}\nansible_ssh_common_args='-o UserKnownHostsFile=${sshd.knownHostsPath}'\n`,
  );
  const playbook = join(dir, `playbook-${name}.yml`);
  await writeFile(
    playbook,
    `- hosts: all\n  gather_facts: false\n  tasks:\n    - synchronize:\n        src: ${source}/\n        dest: "{{ target_path }}/"\n        delete: true\n        rsync_opts: ["--exclude=.git"]\n`,
  );
  const started = performance.now();
  await execa('ansible-playbook', ['-i', inventory, '--forks', '10', playbook], {
    env: { ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3' },
  });
  return performance.now() - started;
}

const fanout: string[][] = [];
console.log('| measure | Slipway | comparison | ratio (comparison ÷ Slipway) |');
console.log('| --- | --- | --- | --- |');
/** Rows are printed as they are measured, so a long run shows its progress. */
const report = (row: string[]) => {
  fanout.push(row);
  console.log(`| ${row.join(' | ')} |`);
};
for (const count of [1, 10, 50]) {
  const id = await project(`fanout-${count}`, count, 'IN_PLACE');
  await release(id, 'warm-up\n');
  const ours: number[] = [];
  for (let run = 0; run < RUNS; run++) ours.push(await release(id, `run ${run} ${randomBytes(8).toString('hex')}\n`));
  const releaseTree = join(dir, 'data', 'projects', id, 'release');
  // The peers sync the same tree to their own copies of the targets, first once to be warm, as Slipway's were.
  const name = `plain-${count}`;
  await plainRsync(releaseTree, name, count, 10);
  const sequential: number[] = [];
  const parallel: number[] = [];
  const playbook: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    await writeFile(join(releaseTree, 'www/changing.txt'), `peer run ${run} ${randomBytes(8).toString('hex')}\n`);
    sequential.push(await plainRsync(releaseTree, name, count, 1));
    await writeFile(join(releaseTree, 'www/changing.txt'), `peer run p${run} ${randomBytes(8).toString('hex')}\n`);
    parallel.push(await plainRsync(releaseTree, name, count, 10));
    await writeFile(join(releaseTree, 'www/changing.txt'), `peer run a${run} ${randomBytes(8).toString('hex')}\n`);
    playbook.push(await ansible(releaseTree, name, count));
  }
  await execa('git', ['-C', releaseTree, 'checkout', '--', '.']);
  report([
    `deploy of 1 changed file in ${FILES.toLocaleString('en')} files, ${count} ssh target${count > 1 ? 's' : ''}`,
    seconds(median(ours)),
    `rsync sequential ${seconds(median(sequential))}, rsync ×10 ${seconds(median(parallel))}, Ansible synchronize ${seconds(median(playbook))}`,
    `${(median(sequential) / median(ours)).toFixed(1)}× / ${(median(parallel) / median(ours)).toFixed(1)}× / ${(median(playbook) / median(ours)).toFixed(1)}×`,
  ]);
}

for (const count of [1, 50]) {
  const times: Record<string, number[]> = {};
  for (const mode of ['ATOMIC', 'IN_PLACE'] as const) {
    const id = await project(`rollback-${mode}-${count}`, count, mode);
    times[mode] = [];
    // One rollback each: the two releases before it are what take the time with 50 targets.
    for (let run = 0; run < 1; run++) {
      await release(id, `a ${run} ${randomBytes(8).toString('hex')}\n`);
      await release(id, `b ${run} ${randomBytes(8).toString('hex')}\n`);
      const list = await gql('query($p: ID!) { releases(projectId: $p) { id live } }', { p: id });
      const previous = list.releases.find((r: { live: boolean }) => !r.live);
      const rb = await gql('mutation($r: ID!) { requestRollback(releaseId: $r, reason: "bench") { id } }', {
        r: previous.id,
      });
      await gql('mutation($id: ID!) { approveTicket(id: $id) { id } }', { id: rb.requestRollback.id });
      await gql('mutation($id: ID!) { deployTicket(id: $id) { id } }', { id: rb.requestRollback.id });
      times[mode].push(await finished(rb.requestRollback.id));
    }
  }
  const atomic = median(times.ATOMIC as number[]);
  const inPlace = median(times.IN_PLACE as number[]);
  report([
    `rollback to the previous version, ${count} ssh target${count > 1 ? 's' : ''}`,
    `atomic (symlink switch) ${seconds(atomic)}`,
    `re-rsync (in place) ${seconds(inPlace)}`,
    `${(inPlace / atomic).toFixed(1)}×`,
  ]);
}

await worker.stop();
await server.shutdown();
await sshd.stop();
await database.sql.end();
await postgres.stop();
await rm(dir, { recursive: true, force: true });

import { join } from 'node:path';
import { jobs } from '@slipway/schema';
import { eq } from 'drizzle-orm';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from './support/api.ts';
import type { TestDatabase } from './support/db.ts';
import { spawnExecutor, startTestWorker } from './support/executor.ts';
import { ok, waitForState } from './support/flow.ts';
import { createReadyProject, ledgerOf } from './support/project.ts';
import { SvnRepo } from './support/svn.ts';
import { snapshot, tagSnapshot } from './support/tree.ts';
import { createWorld, type World } from './support/world.ts';

let world: World<'dev' | 'lead'>;
let dir: string;
let database: TestDatabase;
let api: TestApi;
let svn: SvnRepo;
let people: World<'dev' | 'lead'>['people'];

beforeAll(async () => {
  world = await createWorld('kill', ['dev', 'lead']);
  ({ dir, database, api, people } = world);
  svn = await SvnRepo.create(dir, { 'www/index.html': 'index 0\n', 'www/other.html': 'other\n' });
}, 60_000);

afterAll(async () => {
  await world?.close();
});

describe('an executor killed (SIGKILL) at each step of a deploy', () => {
  it.each([
    ['compose:committed', 'IN_PLACE'],
    ['compose:tagged', 'IN_PLACE'],
    ['deploy:checked-out', 'IN_PLACE'],
    ['deploy:synced', 'IN_PLACE'],
    ['atomic:uploaded', 'ATOMIC'],
    ['atomic:canary-switched', 'ATOMIC'],
  ])(
    'at %s (%s): another executor finishes the deploy, with one tag and every target equal to it',
    async (step, mode) => {
      const name = step.replace(':', '-');
      const dataDir = join(dir, `data-${name}`);
      const targets = ['t1', 't2', 't3'].map((t) => ({ name: t, path: join(dir, `target-${name}`, t) }));
      const doomed = spawnExecutor({ DATABASE_URL: database.url, SLIPWAY_DATA_DIR: dataDir, SLIPWAY_FAULT_AT: step });
      try {
        const projectId = await createReadyProject(api, people.admin, {
          name,
          sourceUrl: svn.url,
          stagingPath: join(dir, `staging-${name}`),
          settings: { deployMode: mode },
          targets,
          members: [
            { user: people.dev, role: 'DEVELOPER' },
            { user: people.lead, role: 'LEAD' },
          ],
        });
        await svn.commit(name, { 'www/index.html': `index for ${name}\n` });
        const submitted = await ok(
          api,
          people.dev.token,
          'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }',
          {
            i: { projectId, reason: name, paths: ['www/index.html'] },
          },
        );
        const id = submitted.submitTicket.id;
        await waitForState(api, people.dev.token, id, 'AWAITING_TEST');
        await ok(api, people.dev.token, 'mutation($id: ID!) { passTest(id: $id) { id } }', { id });
        await ok(api, people.lead.token, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
        await ok(api, people.dev.token, 'mutation($id: ID!) { deployTicket(id: $id) { id } }', { id });
        const died = await doomed;
        expect(died.signal).toBe('SIGKILL');

        const rescuer = await startTestWorker(database, dataDir, { leaseSeconds: 3 });
        try {
          const done = await waitForState(api, people.dev.token, id, ['DEPLOYED', 'DEPLOY_FAILED'], 60_000);
          expect(done.state, JSON.stringify(done.jobs)).toBe('DEPLOYED');
          const deployJob = done.jobs.find((j) => j.kind === 'DEPLOY');
          const [row] = await database.db
            .select()
            .from(jobs)
            .where(eq(jobs.id, Number(deployJob?.id)));
          expect(row).toMatchObject({ attempts: 2, lockedBy: rescuer.id });
          const ledger = ledgerOf(dataDir, projectId);
          const { stdout: tags } = await execa('git', ['-C', ledger, 'tag', '--list']);
          expect(tags.split('\n')).toEqual(['v0', 'v1']);
          const expected = await tagSnapshot(ledger, 'v1');
          for (const target of targets) {
            const served = mode === 'ATOMIC' ? join(target.path, 'current/') : target.path;
            expect(await snapshot(served)).toEqual(expected);
          }
        } finally {
          await rescuer.stop();
        }
      } finally {
        if (doomed.exitCode === null && doomed.signalCode === null) process.kill(-(doomed.pid as number), 'SIGKILL');
      }
    },
    120_000,
  );
});

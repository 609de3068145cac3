import { join } from 'node:path';
import type { TestApi, TestUser } from './api.ts';
import { ok, waitFor } from './flow.ts';

export interface ProjectSetup {
  name: string;
  sourceType?: 'SVN' | 'GIT';
  sourceUrl: string;
  stagingPath: string;
  targets: { name: string; path: string; host?: string; port?: number; user?: string }[];
  members: { user: TestUser; role: 'VIEWER' | 'DEVELOPER' | 'TESTER' | 'LEAD' }[];
  settings?: Record<string, unknown>;
}

/** Creates a project through the API, adds its targets and members, and waits until the executor made it ready. */
export async function createReadyProject(api: TestApi, admin: TestUser, setup: ProjectSetup): Promise<string> {
  const created = await ok(api, admin.token, 'mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }', {
    i: {
      name: setup.name,
      sourceType: setup.sourceType ?? 'SVN',
      sourceUrl: setup.sourceUrl,
      stagingPath: setup.stagingPath,
      // Most tests are about what happens after the test passes: the author passes it, unless a test says otherwise.
      allowAuthorPassTest: true,
      ...setup.settings,
    },
  });
  const projectId: string = created.createProject.id;
  for (const target of setup.targets) {
    await ok(api, admin.token, 'mutation($p: ID!, $t: TargetInput!) { addTarget(projectId: $p, input: $t) { id } }', {
      p: projectId,
      t: target,
    });
  }
  for (const { user, role } of setup.members) {
    await ok(
      api,
      admin.token,
      'mutation($p: ID!, $u: ID!, $r: Role) { setMember(projectId: $p, userId: $u, role: $r) { id } }',
      {
        p: projectId,
        u: user.id,
        r: role,
      },
    );
  }
  const ready = await waitFor(
    () => ok(api, admin.token, 'query($id: ID!) { project(id: $id) { ready initError } }', { id: projectId }),
    (d) => d.project.ready || d.project.initError,
    // A checkout of thousands of files on a busy 2-core machine can take a while.
    90_000,
  );
  if (!ready.project.ready) throw new Error(`project not ready: ${ready.project.initError}`);
  return projectId;
}

export const ledgerOf = (dataDir: string, projectId: string) => join(dataDir, 'projects', projectId, 'ledger');

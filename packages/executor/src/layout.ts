import { join } from 'node:path';

/** Where an executor keeps a project's ledger (git repository of releases) and release tree (checked-out tag). */
export function projectDirs(dataDir: string, projectId: number) {
  const root = join(dataDir, 'projects', String(projectId));
  return { root, ledger: join(root, 'ledger'), release: join(root, 'release') };
}

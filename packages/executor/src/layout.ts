import { join } from 'node:path';

/**
 * Where an executor keeps a project's ledger (git repository of releases), its release tree (the tag being deployed)
 * and its verification tree (the tag targets are compared with).
 */
export function projectDirs(dataDir: string, projectId: number) {
  const root = join(dataDir, 'projects', String(projectId));
  return { root, ledger: join(root, 'ledger'), release: join(root, 'release'), verify: join(root, 'verify') };
}

/** A release's tag in the ledger (and its directory name on atomic targets). */
export const tag = (number: number) => `v${number}`;

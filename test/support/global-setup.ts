import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '@slipway/schema';
import { execa } from 'execa';
import type { TestProject } from 'vitest/node';
import { repoRoot } from './slipway.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL URL with the right to create databases: one per test file. */
    adminDatabaseUrl: string;
    databaseKind: 'embedded' | 'external';
  }
}

/**
 * Bundles the server and the executor as `pnpm start` does (tests that start them as processes run the bundles, so
 * they must be of the current sources), and builds the console from the current sources once, before any test file
 * runs (a build while another file's browser loads it would pull the page from under it). With DATABASE_URL the suite
 * uses that server; without it, an embedded PostgreSQL in a temp dir.
 */
export default async function setup(project: TestProject) {
  await Promise.all([
    execa('node', ['build.mjs'], { cwd: repoRoot }),
    // As `pnpm install` builds it: vitest's NODE_ENV=test would make Svelte compile its development checks in.
    execa('pnpm', ['--filter', '@slipway/ui', 'build'], { cwd: repoRoot, env: { NODE_ENV: 'production' } }),
  ]);
  const external = process.env.DATABASE_URL;
  if (external) {
    project.provide('adminDatabaseUrl', external);
    project.provide('databaseKind', 'external');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'slipway-test-pg-'));
  await chmod(dir, 0o755);
  const embedded = await startEmbeddedPostgres(dir);
  project.provide('adminDatabaseUrl', embedded.url);
  project.provide('databaseKind', 'embedded');
  return async () => {
    await embedded.stop();
    await rm(dir, { recursive: true, force: true });
  };
}

import { defineConfig } from 'vitest/config';

export default defineConfig({
  // One copy of graphql-js: Node loads its CommonJS build for the libraries, so the tests must too.
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/bench/**'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    // A page or a job that is slow under load (a busy CI machine, the other worker) is waited for, not failed at 1 s.
    expect: { poll: { timeout: 10_000 } },
    hookTimeout: 120_000,
    // Each file gets its own database; two workers suit the 2-core machines this runs on.
    maxWorkers: 2,
  },
});

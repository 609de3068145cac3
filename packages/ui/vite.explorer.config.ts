import { defineConfig } from 'vite';

// The API explorer (GraphiQL: React and its editor), built on its own after the console into the same dist: the two
// share no chunk, so the console everyone loads carries nothing of it.
export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    target: 'es2022',
    assetsDir: 'assets/explorer',
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      input: { explorer: 'explorer.html' },
      // React libraries mark themselves "use client" (for server components); a browser bundle has nothing to keep.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});

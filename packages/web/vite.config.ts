import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

// The engine runs in a module worker; the tfjs wasm binaries are served by `convlens serve` at /tfjs-wasm/.
export default defineConfig({
  plugins: [svelte()],
  worker: {
    format: 'es',
    // tfjs's threaded wasm runs a stringified factory in its pthread workers, where the minifier's
    // rewrite of `typeof _scriptDir !== 'undefined'` into a bare reference throws (tfjs-backend-wasm
    // README, "JS Minification"): the worker bundle is mangled but not compressed.
    rolldownOptions: { output: { minify: { compress: false, mangle: true } } },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // tfjs (three backends) makes one large worker chunk by design.
    chunkSizeWarningLimit: 8000,
    reportCompressedSize: false,
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
});

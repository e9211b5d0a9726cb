import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

// The engine runs in a module worker; the tfjs wasm binaries are served by `convlens serve` at /tfjs-wasm/.
export default defineConfig({
  plugins: [svelte()],
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // tfjs (three backends) makes one large worker chunk by design.
    chunkSizeWarningLimit: 8000,
    reportCompressedSize: false,
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
});

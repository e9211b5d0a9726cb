import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: one test file at a time keeps wasm timings and memory predictable.
    fileParallelism: false,
    pool: 'forks',
  },
});

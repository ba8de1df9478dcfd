import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/faults/runs/**', 'test/faults/scenarios/**', 'node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: broker processes and clients need one of them.
    maxWorkers: 2,
    reporters: ['default'],
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'worker/**/*.test.ts',
      'contracts/**/*.test.ts',
      'supabase/tests/**/*.test.ts',
      'scripts/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', 'supabase/functions/**'],
    globalSetup: ['scripts/test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});

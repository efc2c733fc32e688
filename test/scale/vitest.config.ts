import { defineConfig } from 'vitest/config';

// `npm run test:scale`: several `twofold serve` processes per suite, so one suite at a time.
export default defineConfig({
  test: {
    root: '.',
    include: ['test/scale/**/*.scale.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    passWithNoTests: false,
  },
});

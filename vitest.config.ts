import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // GDAL and DuckDB are native and use their own threads; two cores are plenty shared by forks.
    pool: 'forks',
  },
});

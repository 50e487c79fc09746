import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One real S3 server (Swift + s3api on loopback) for the whole run: inject('s3') in tests.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // GDAL and DuckDB are native and use their own threads; two cores are plenty shared by forks.
    pool: 'forks',
  },
});

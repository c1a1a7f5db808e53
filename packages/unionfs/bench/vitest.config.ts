import { defineConfig } from 'vitest/config';

const conditions = ['@ts-container/source', 'import', 'module', 'node', 'default'];

// Run with `pnpm --filter @ts-container/unionfs bench`; BENCH_OUT=file.json also writes the figures.
export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: { include: ['bench/**/*.bench.test.ts'], testTimeout: 600_000, pool: 'forks' },
});

import { defineConfig } from 'vitest/config';

// Inside the monorepo, packages resolve each other's `src` through this export condition,
// so tests run without building the packages they depend on.
const conditions = ['@ts-container/source', 'import', 'module', 'node', 'default'];

export function vitestConfig(options: { testTimeout?: number } = {}) {
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: conditions } },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: options.testTimeout ?? 60_000,
      hookTimeout: 120_000,
      pool: 'forks',
      fileParallelism: false,
    },
  });
}

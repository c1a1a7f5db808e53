import { type Options, defineConfig } from 'tsup';

/** The one build preset every package and app shares: ESM for Node 20+, with type declarations. */
export function preset(overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: false,
    ...overrides,
  });
}

import { existsSync, readFileSync } from 'node:fs';
import { CLI_BIN } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';

const bundle = CLI_BIN.replace(/index\.js$/, 'main.js');
const skip = existsSync(bundle) ? undefined : 'apps/cli is not built: run `pnpm build` first';
if (skip) console.warn(`bundle test skipped: ${skip}`);

describe.skipIf(skip !== undefined)('the tsctr bundle', () => {
  it('has no dynamic import: the code-cache launcher runs it as a vm.Script, which has no loader for one', () => {
    // An `import()` there fails at run time with "A dynamic import callback was not specified".
    const dynamicImports =
      readFileSync(bundle, 'utf8').match(/[^\w$.]import\(\s*['"`][^'"`]*['"`]\s*\)/g) ?? [];
    expect(dynamicImports).toEqual([]);
  });
});

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

  it('loads no Node built-in before a command uses it (`--version` loads none)', () => {
    const source = readFileSync(bundle, 'utf8');
    // Each built-in is a lazy stand-in (tsup.config.ts), and nothing at the top level or in a
    // module's initialiser touches one: a namespace import that lists its keys, or a
    // `promisify(zlib.gzip)` whose result tree-shaking dropped.
    expect(source.match(/^var [\w$]+ = require\('[\w/:]+'\);$/gm) ?? []).toEqual([]);
    expect(source.match(/_interopNamespace\((?!e\))[\w$]+\)/g) ?? []).toEqual([]);
    expect(source.match(/^[ \t]*[\w$]+\.promisify\([\w$]+\.[\w$]+\);$/gm) ?? []).toEqual([]);
  });
});

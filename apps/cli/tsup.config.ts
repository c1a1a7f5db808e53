import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { Plugin } from 'esbuild';
import { preset } from '../../tsup.preset.ts';

/**
 * Packages the CLI needs only for a few commands (`cp`, `build`, `save`/`load`), whose top level
 * costs more to evaluate than the rest of the bundle: execa alone was half of `tsctr --version`'s
 * JavaScript time. Each import of one resolves to a stand-in with the same names that loads the
 * real module (still bundled, through a lazy `require`, so no dynamic import) on first call.
 */
const LAZY: Record<string, { named?: string[]; defaultMethods?: string[] }> = {
  execa: { named: ['execa'] },
  'tar-stream': { defaultMethods: ['pack', 'extract'] },
};

function lazyModules(): Plugin {
  return {
    name: 'tsctr-lazy-modules',
    setup(build) {
      const filter = new RegExp(`^(${Object.keys(LAZY).join('|')})$`);
      build.onResolve({ filter }, (args) =>
        args.namespace === 'tsctr-lazy'
          ? undefined
          : { path: args.path, namespace: 'tsctr-lazy', pluginData: { resolveDir: args.resolveDir } },
      );
      build.onLoad({ filter: /.*/, namespace: 'tsctr-lazy' }, (args) => {
        const spec = LAZY[args.path]!;
        const lines = [
          'let real;',
          `const load = () => (real ??= require(${JSON.stringify(args.path)}));`,
          ...(spec.named ?? []).map(
            (name) => `export function ${name}(...a) { return load().${name}(...a); }`,
          ),
        ];
        if (spec.defaultMethods)
          lines.push(
            `export default { ${spec.defaultMethods.map((m) => `${m}: (...a) => load().${m}(...a)`).join(', ')} };`,
          );
        return { contents: lines.join('\n'), loader: 'js', resolveDir: args.pluginData.resolveDir };
      });
    },
  };
}

/**
 * The bundle's header requires every Node built-in it uses (`var http = require('http');`), and
 * each is then used as `http.request(…)`. Loading them costs more than the rest of `--version`
 * (Node compiles most built-ins on first require), and a command uses few of them. Each header
 * line becomes a forwarding Proxy that requires the module on first use: the same objects,
 * classes and properties, only later.
 */
export function lazyBuiltins(source: string): string {
  const header = /^var ([\w$]+) = require\('([\w/:]+)'\);$/gm;
  const helper =
    "function __tsctrLazy(id) { let m; const load = () => (m ??= require(id)); return new Proxy({}, { get: (_, k) => (k === '__esModule' ? undefined : load()[k]), has: (_, k) => k in load(), ownKeys: () => Reflect.ownKeys(load()), getOwnPropertyDescriptor: (t, k) => { const d = Reflect.getOwnPropertyDescriptor(load(), k); if (d && !d.configurable) Object.defineProperty(t, k, d); return d; }, getPrototypeOf: () => Reflect.getPrototypeOf(load()) }); }";
  if (!/^'use strict';$/m.test(source)) throw new Error('lazyBuiltins: the bundle has no CommonJS header');
  const lazy = new Set<string>();
  return (
    source
      .replace(/^'use strict';$/m, `'use strict';${helper}`)
      .replace(header, (_, name: string, id: string) => {
        lazy.add(name);
        return `var ${name} = __tsctrLazy('${id}');`;
      })
      // `import * as crypto from 'node:crypto'` becomes `_interopNamespace(crypto)`, which lists
      // the module's keys at start-up and so loads it: the stand-in already serves as a namespace.
      .replace(
        /^var ([\w$]+) = \/\*#__PURE__\*\/_interopNamespace\(([\w$]+)\);$/gm,
        (line, name: string, module: string) => (lazy.has(module) ? `var ${name} = ${module};` : line),
      )
  );
}

/**
 * `const gzipAsync = promisify(gzip)` at a module's top level stays in the bundle as a bare
 * `util.promisify(zlib.gzip);` (indented inside a lazily initialised module) when tree-shaking
 * dropped every use of its result (rollup's manualPureFunctions does not see through the
 * namespace), and loads node:zlib at start-up (or when `images` loads the image package).
 * promisify has no side effect: a call whose result nobody keeps goes.
 */
export function dropUnusedPromisify(source: string): string {
  return source.replace(/^[ \t]*[\w$]+\.promisify\([\w$]+\.[\w$]+\);\n/gm, '');
}

/**
 * The single executable (compiled/tsctr, what tools/bootstrap links), rebuilt with the bundle
 * when a Bun is at hand (the one bootstrap installs, or $TSCTR_BUN): a binary older than the
 * bundle would run old code. Without Bun the Node bundle is the whole build.
 */
function compileIfBun(): void {
  const bun =
    process.env.TSCTR_BUN || new URL('../../.cache/bun/node_modules/.bin/bun', import.meta.url).pathname;
  if (!existsSync(bun)) return;
  execFileSync(process.execPath, [new URL('./compile.mjs', import.meta.url).pathname], {
    stdio: 'inherit',
    env: { ...process.env, TSCTR_BUN: bun },
  });
}

// One bundled, tree-shaken file: the CLI starts on every command, and loading dozens of
// modules (zod, execa, tar-stream) it mostly does not need costs more than the work itself.
// CommonJS, unlike the libraries: Node starts a CommonJS script about 40 ms of CPU sooner
// than the same bundle as an ES module (measured with `tsctr --version` on Node 20).
// dist/index.js (the bin) is a small launcher that runs dist/main.js from a V8 code cache.
export default preset({
  entry: { index: 'src/launcher.ts', main: 'src/index.ts' },
  format: ['cjs'],
  outExtension: () => ({ js: '.js' }),
  noExternal: [/.*/],
  dts: false,
  treeshake: true,
  shims: true,
  esbuildPlugins: [lazyModules()],
  // The workspace packages from their sources, module by module (not their one-file dist/):
  // the modules only a command's module imports (image, registry, builder, most of api) then
  // stay unevaluated until that command runs (see packages/cli/src/command-table.ts).
  esbuildOptions(options) {
    options.conditions = ['@ts-container/source'];
  },

  // The package is `"type": "module"`; this tells Node the bundle in dist/ is CommonJS.
  onSuccess: async () => {
    await writeFile(new URL('./dist/package.json', import.meta.url), '{ "type": "commonjs" }\n');
    const main = new URL('./dist/main.js', import.meta.url);
    await writeFile(main, dropUnusedPromisify(lazyBuiltins(await readFile(main, 'utf8'))));
    compileIfBun();
  },
});

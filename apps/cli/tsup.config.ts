import { writeFile } from 'node:fs/promises';
import { preset } from '../../tsup.preset.ts';

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
  // The package is `"type": "module"`; this tells Node the bundle in dist/ is CommonJS.
  onSuccess: async () => {
    await writeFile(new URL('./dist/package.json', import.meta.url), '{ "type": "commonjs" }\n');
  },
});

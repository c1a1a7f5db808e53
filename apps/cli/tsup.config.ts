import { preset } from '../../tsup.preset.ts';

// One bundled, tree-shaken file: the CLI starts on every command, and loading dozens of
// modules (zod, execa, tar-stream) it mostly does not need costs more than the work itself.
export default preset({
  noExternal: [/.*/],
  dts: false,
  treeshake: true,
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});

import { preset } from '../../tsup.preset.ts';

// The conformance suite is a separate entry so that the library itself never loads vitest.
export default preset({ entry: ['src/index.ts', 'src/testsuite.ts'], external: ['vitest'] });

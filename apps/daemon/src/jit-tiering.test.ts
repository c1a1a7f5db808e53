import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DAEMON_INTERRUPT_BUDGET, optimiseHotPathsSooner } from './jit-tiering.js';

/** What a fresh Node prints on stderr when handed `flag` through `v8.setFlagsFromString`. */
const stderrOf = (flag: string) =>
  spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { setFlagsFromString } from 'node:v8'; setFlagsFromString('${flag}');`,
    ],
    { encoding: 'utf8' },
  ).stderr;

describe('optimiseHotPathsSooner', () => {
  it('names a flag this Node knows (V8 reports an unknown one on stderr)', () => {
    expect(stderrOf('--no-such-flag-here')).toContain('unrecognized flag');
    expect(stderrOf(`--interrupt-budget=${DAEMON_INTERRUPT_BUDGET}`)).toBe('');
  });

  it('can be called in a running process', () => {
    expect(() => optimiseHotPathsSooner()).not.toThrow();
  });
});

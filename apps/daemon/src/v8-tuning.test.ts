import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  DAEMON_INTERRUPT_BUDGET,
  DAEMON_MARKING_SOFT_TRIGGER_PERCENT,
  tuneV8ForDaemon,
} from './v8-tuning.js';

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

describe('tuneV8ForDaemon', () => {
  it('names flags this Node knows (V8 reports an unknown one on stderr)', () => {
    expect(stderrOf('--no-such-flag-here')).toContain('unrecognized flag');
    expect(stderrOf(`--interrupt-budget=${DAEMON_INTERRUPT_BUDGET}`)).toBe('');
    expect(stderrOf(`--incremental-marking-soft-trigger=${DAEMON_MARKING_SOFT_TRIGGER_PERCENT}`)).toBe('');
  });

  it('can be called in a running process', () => {
    expect(() => tuneV8ForDaemon()).not.toThrow();
  });
});

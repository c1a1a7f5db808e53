import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './registry.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot)
  console.warn('non-root check skipped: it runs the tests as `nobody`, which needs root to switch to');

// A contributor without root runs one package's tests: the root-only ones skip, each saying why,
// and nothing waits on a privileged port or a missing tool.
describe.skipIf(!isRoot)('pnpm --filter @ts-container/network test as a non-root user', () => {
  let home = '';
  afterAll(() => (home ? rm(home, { recursive: true, force: true }) : undefined));

  it('finishes quickly with every root-only test skipped and its reason printed', async () => {
    home = await mkdtemp(join(tmpdir(), 'tsctr-nobody-'));
    await chmod(home, 0o777);
    const started = Date.now();
    // `--configLoader runner`: vite would otherwise write a bundled config beside vitest.config.ts,
    // in a tree `nobody` does not own (a contributor's own clone has no such problem).
    const result = await execa(
      'runuser',
      [
        '-u',
        'nobody',
        '--',
        'env',
        `HOME=${home}`,
        'pnpm',
        '--filter',
        '@ts-container/network',
        'test',
        '--configLoader',
        'runner',
      ],
      { cwd: REPO_ROOT, reject: false, all: true, timeout: 120_000, env: { CI: '1', NO_COLOR: '1' } },
    );
    const seconds = (Date.now() - started) / 1000;
    expect(result.exitCode, result.all).toBe(0);
    expect(seconds).toBeLessThan(60);
    const output = result.all ?? '';
    const skippedFiles = [...output.matchAll(/↓ (\S+) \((\d+) tests? \| \d+ skipped\)/g)].map((m) => m[1]);
    expect(skippedFiles.length).toBeGreaterThan(0);
    // Every file that skipped wholesale printed why.
    for (const file of skippedFiles)
      expect(output).toMatch(new RegExp(`stderr \\| ${file}\\n.*(root|needs)`));
    expect(output).toContain(
      'DNS forwarding test skipped: its fake upstream binds port 53, which needs root',
    );
    expect(output).toMatch(/Tests\s+\d+ passed \| \d+ skipped/);
  });
});

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

describe('the README example', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'common-readme-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('runs as written and prints what its comments say', async () => {
    const readme = await readFile(resolve(__dirname, '../README.md'), 'utf8');
    const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    // Only the package name changes: it resolves to this source tree.
    const file = join(dir, 'example.ts');
    await writeFile(
      file,
      example!.replace("'@ts-container/common'", JSON.stringify(resolve(__dirname, 'index.ts'))),
    );
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await import(file);
      expect(log.mock.calls).toEqual([
        [1610612736, '1.98MB'],
        [90000000000],
        [[{ hostIp: '127.0.0.1', containerPort: 80, protocol: 'tcp', hostPort: 8080 }]],
        [{ os: 'linux', architecture: 'arm64' }],
        ['invalid-parameter', "invalid size: 'lots'"],
      ]);
    } finally {
      log.mockRestore();
    }
  });
});

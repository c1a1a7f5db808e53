import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('README example test skipped: running containers needs root');
const makeRootfs = resolve(__dirname, '../../../tools/images/make-busybox-rootfs');

describe.skipIf(!isRoot)('the README example', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'runtime-readme-'));
    execFileSync(makeRootfs, [join(dir, 'rootfs.tar'), join(dir, 'rootfs')]);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('runs as written (with a temporary rootfs and state directory)', async () => {
    const readme = await readFile(resolve(__dirname, '../README.md'), 'utf8');
    const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    // Only the paths change: the package name resolves to this source tree.
    const script = example!
      .replace("'@ts-container/runtime'", JSON.stringify(resolve(__dirname, 'index.ts')))
      .replace("'/srv/rootfs'", JSON.stringify(join(dir, 'rootfs')))
      .replace("'/run/my-app'", JSON.stringify(join(dir, 'state')))
      .replace("'/my-app/demo-1'", `'/tsctr-test/readme-${process.pid}'`)
      .replace("'demo-1'", `'readme-${process.pid}'`);
    const file = join(dir, 'example.ts');
    await writeFile(file, script);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await import(file);
      expect(log).toHaveBeenCalledWith('hello from demo\n', 3, false);
    } finally {
      log.mockRestore();
    }
  });
});

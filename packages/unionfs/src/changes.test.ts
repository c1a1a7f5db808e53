import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readXattrs, readXattrsWithGetfattr } from './changes.js';

const isRoot = process.getuid?.() === 0;
const hasTools =
  (await execa('sh', ['-c', 'command -v getfattr && command -v setfattr'], { reject: false })).exitCode === 0;
if (!hasTools)
  console.warn('readXattrs comparison skipped: getfattr/setfattr missing (apt-get install attr)');
if (!isRoot) console.warn('readXattrs: trusted.* and security.* cases skipped: setting them needs root');

describe.skipIf(!hasTools)('readXattrs in-process', () => {
  let root: string;
  const set = (name: string, value: string, path: string) =>
    execa('setfattr', ['-h', '-n', name, '-v', value, path]);
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'xattrs-'));
    await mkdir(join(root, 'dir/sub'), { recursive: true });
    await mkdir(join(root, 'plain'));
    await writeFile(join(root, 'dir/sub/file'), 'x');
    await writeFile(join(root, 'none'), '');
    await writeFile(join(root, 'naïve name'), '');
    await symlink('none', join(root, 'link'));
    await execa('mkfifo', [join(root, 'fifo')]);
    await set('user.text', 'hello', join(root, 'dir/sub/file'));
    await set('user.empty', '', join(root, 'dir/sub/file'));
    await set('user.binary', '0x00ff10', join(root, 'dir'));
    await set('user.big', `0s${Buffer.alloc(3000, 7).toString('base64')}`, join(root, 'naïve name'));
    if (isRoot) {
      await set('trusted.overlay.opaque', 'y', join(root, 'dir/sub'));
      await set('trusted.overlay.opaque', 'y', root);
      await set('trusted.mark', 'on-link', join(root, 'link'));
      await execa('setcap', ['cap_net_raw+ep', join(root, 'none')], { reject: false });
    }
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads what getfattr reads: names, binary and empty values, values beyond the first buffer, links not followed', async () => {
    const inProcess = await readXattrs(root);
    expect(inProcess).toEqual(await readXattrsWithGetfattr(root));
    expect(inProcess.get(join(root, 'dir/sub/file'))?.get('user.text')?.toString()).toBe('hello');
    expect(inProcess.get(join(root, 'dir'))?.get('user.binary')).toEqual(Buffer.from([0, 0xff, 0x10]));
    expect(inProcess.get(join(root, 'naïve name'))?.get('user.big')?.length).toBe(3000);
    expect(inProcess.has(join(root, 'plain'))).toBe(false);
    if (isRoot) expect(inProcess.get(join(root, 'link'))?.get('trusted.mark')?.toString()).toBe('on-link');
  });

  it('reads a single file, and nothing of a missing path', async () => {
    const file = join(root, 'dir/sub/file');
    expect(await readXattrs(file)).toEqual(await readXattrsWithGetfattr(file));
    expect((await readXattrs(file)).size).toBe(1);
    expect(await readXattrs(join(root, 'missing'))).toEqual(new Map());
  });
});

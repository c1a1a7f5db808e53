import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountAll, mountsUnder, unmount } from './mount.js';
import { mountSyscallsUnavailable } from './syscalls.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('mount tests skipped: mounting needs root');

describe.skipIf(!isRoot)('mountAll and unmount', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'unionfs-mount-'));
  });
  afterAll(async () => {
    for (const m of (await mountsUnder(dir)).reverse()) await unmount(m);
    await rm(dir, { recursive: true, force: true });
  });

  it('calls mount(2) itself on Linux (koffi loads libc)', () => {
    expect(mountSyscallsUnavailable()).toBeUndefined();
  });

  it('mounts an overlay whose layer directories are relative to cwd, and unmounts it', async () => {
    const root = join(dir, 'ov');
    for (const d of ['l/a', 'l/b', 'c/diff', 'c/work', 'merged'])
      await mkdir(join(root, d), { recursive: true });
    await writeFile(join(root, 'l/a/from-a'), 'a');
    await writeFile(join(root, 'l/b/from-b'), 'b');
    const merged = join(root, 'merged');
    await mountAll(
      [
        {
          type: 'overlay',
          source: 'overlay',
          options: ['lowerdir=l/a:l/b', 'upperdir=c/diff', 'workdir=c/work'],
          cwd: root,
        },
      ],
      merged,
    );
    expect(await mountsUnder(merged)).toEqual([merged]);
    expect((await readdir(merged)).sort()).toEqual(['from-a', 'from-b']);
    await writeFile(join(merged, 'new'), 'n');
    expect(await readFile(join(root, 'c/diff/new'), 'utf8')).toBe('n');
    await unmount(merged);
    expect(await mountsUnder(merged)).toEqual([]);
    // Unmounting what is not mounted is fine (crash repair calls it blindly).
    await unmount(merged);
  });

  it('mounts deep images whose absolute layer paths exceed a page (through mount(8) in cwd)', async () => {
    const root = join(dir, 'deep', 'a-directory-name-long-enough-to-matter');
    const lowers: string[] = [];
    for (let i = 0; i < 120; i++) {
      const name = `l/${String(i).padStart(3, '0')}ABCDEFGHIJKLMNOPQRSTUVW`;
      await mkdir(join(root, name), { recursive: true });
      await writeFile(join(root, name, `f${i}`), '');
      lowers.push(name);
    }
    const absoluteLength = lowers.map((l) => join(root, l)).join(':').length;
    expect(absoluteLength).toBeGreaterThan(4095);
    const merged = join(root, 'merged');
    await mkdir(merged);
    await mountAll(
      [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`], cwd: root }],
      merged,
    );
    expect((await readdir(merged)).length).toBe(120);
    await unmount(merged);
  });

  it('bind-mounts read-only', async () => {
    const source = join(dir, 'src');
    const target = join(dir, 'dst');
    await mkdir(source);
    await mkdir(target);
    await writeFile(join(source, 'file'), 'x');
    await mountAll([{ type: 'bind', source, options: ['ro'] }], target);
    expect(await readFile(join(target, 'file'), 'utf8')).toBe('x');
    await expect(writeFile(join(target, 'other'), 'y')).rejects.toMatchObject({ code: 'EROFS' });
    await unmount(target);
    await writeFile(join(target, 'other'), 'y');
  });

  it('explains a mount the kernel refuses (mount(8) reports it)', async () => {
    const target = join(dir, 'bad');
    await mkdir(target);
    await expect(
      mountAll([{ type: 'overlay', source: 'overlay', options: ['lowerdir=/nonexistent-lower'] }], target),
    ).rejects.toThrow(/mount/);
    expect(await mountsUnder(target)).toEqual([]);
  });
});

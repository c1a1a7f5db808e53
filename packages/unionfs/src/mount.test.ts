import { chown, lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserNamespaceHandle } from './idmap.js';
import { mountAll, mountsUnder, unmount } from './mount.js';
import { idmappedMountsUnavailable, mountSyscallsUnavailable } from './syscalls.js';

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
  it('shows idmapped layers owned by the mapped root, leaving the files on disk as they were', async (ctx) => {
    const why = idmappedMountsUnavailable();
    if (why) {
      console.warn(`idmapped mount test skipped: ${why}`);
      ctx.skip();
    }
    const root = join(dir, 'idmap');
    for (const d of ['l/a', 'l/b', 'c/diff', 'c/work', 'merged'])
      await mkdir(join(root, d), { recursive: true });
    await writeFile(join(root, 'l/a/root-owned'), 'a');
    await writeFile(join(root, 'l/b/user-owned'), 'b');
    await chown(join(root, 'l/b/user-owned'), 1000, 1000);
    const userns = await UserNamespaceHandle.create({
      uidMappings: [{ containerID: 0, hostID: 300000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 310000, size: 65536 }],
    });
    const merged = join(root, 'merged');
    try {
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
        { idmap: userns },
      );
    } finally {
      userns.close();
    }
    const owner = async (p: string) => {
      const st = await lstat(p);
      return [st.uid, st.gid];
    };
    expect(await owner(join(merged, 'root-owned'))).toEqual([300000, 310000]);
    expect(await owner(join(merged, 'user-owned'))).toEqual([301000, 311000]);
    // The container's root owns its `/` (the upper layer's root).
    expect(await owner(merged)).toEqual([300000, 310000]);
    // A copy-up keeps the mapped owner; the layer below is untouched.
    await writeFile(join(merged, 'root-owned'), 'changed');
    expect(await owner(join(root, 'c/diff/root-owned'))).toEqual([300000, 310000]);
    expect(await owner(join(root, 'l/a/root-owned'))).toEqual([0, 0]);
    expect(await readFile(join(root, 'l/a/root-owned'), 'utf8')).toBe('a');
    // Only the overlay is left mounted: the idmapped layers were detached, their scratch removed.
    expect(await mountsUnder(root)).toEqual([merged]);
    expect((await readdir(root)).sort()).toEqual(['c', 'l', 'merged']);
    await unmount(merged);
    expect(await mountsUnder(root)).toEqual([]);
  });
});

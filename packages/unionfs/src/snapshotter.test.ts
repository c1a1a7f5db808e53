import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mount, mountAll, unmount } from './mount.js';
import { Snapshotter } from './snapshotter.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('unionfs snapshotter tests skipped: mounting needs root');

async function layer(entries: Array<{ name: string; body?: string; type?: 'directory' }>): Promise<Readable> {
  const pack = tar.pack();
  for (const e of entries)
    pack.entry({ name: e.name, type: e.type ?? 'file', mode: e.type ? 0o755 : 0o644 }, e.body ?? '');
  pack.finalize();
  return Readable.from(pack);
}

for (const driver of ['overlay', 'copy'] as const) {
  describe.skipIf(!isRoot)(`Snapshotter (${driver})`, () => {
    let root: string;
    let snapshotter: Snapshotter;
    const mounted: string[] = [];
    const mountAt = async (mounts: Mount[], name: string) => {
      const target = join(root, 'mnt', name);
      await mkdir(target, { recursive: true });
      await mountAll(mounts, target);
      mounted.push(target);
      return target;
    };

    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), `snap-${driver}-`));
      snapshotter = await Snapshotter.open({ root: join(root, 'store'), driver });
      await snapshotter.unpackLayer(
        undefined,
        await layer([
          { name: 'etc/', type: 'directory' },
          { name: 'etc/motd', body: 'base' },
          { name: 'gone', body: 'x' },
          { name: 'opq/a', body: 'a' },
        ]),
        () => 'l1',
      );
      await snapshotter.unpackLayer(
        'l1',
        await layer([
          { name: '.wh.gone' },
          { name: 'opq/.wh..wh..opq' },
          { name: 'opq/b', body: 'b' },
          { name: 'new', body: 'n' },
        ]),
        () => 'l2',
      );
    });
    afterAll(async () => {
      for (const m of mounted.reverse()) await unmount(m);
      await rm(root, { recursive: true, force: true });
    });

    it('shows lower layers with deletions and opaque directories applied', async () => {
      const dir = await mountAt(await snapshotter.view('v1', 'l2'), 'v1');
      expect(await readFile(join(dir, 'etc/motd'), 'utf8')).toBe('base');
      expect(await readFile(join(dir, 'new'), 'utf8')).toBe('n');
      await expect(lstat(join(dir, 'gone'))).rejects.toThrow();
      await expect(lstat(join(dir, 'opq/a'))).rejects.toThrow();
      expect(await readFile(join(dir, 'opq/b'), 'utf8')).toBe('b');
    });

    it('copies on write: a container changes a lower file, others still see the original', async () => {
      const c1 = await mountAt(await snapshotter.prepare('c1', 'l2'), 'c1');
      const c2 = await mountAt(await snapshotter.prepare('c2', 'l2'), 'c2');
      await writeFile(join(c1, 'etc/motd'), 'changed');
      expect(await readFile(join(c1, 'etc/motd'), 'utf8')).toBe('changed');
      expect(await readFile(join(c2, 'etc/motd'), 'utf8')).toBe('base');
      expect(await readFile(join(snapshotter.upperDir('l1'), 'etc/motd'), 'utf8')).toBe('base');
      expect(await readFile(join(snapshotter.upperDir('c1'), 'etc/motd'), 'utf8')).toBe('changed');
    });

    it('lists changes like docker diff and turns them into a layer that reproduces them', async () => {
      const c = await mountAt(await snapshotter.prepare('c3', 'l2'), 'c3');
      await writeFile(join(c, 'etc/motd'), 'changed');
      await writeFile(join(c, 'etc/added'), 'a');
      await rm(join(c, 'new'));
      await rm(join(c, 'opq'), { recursive: true });
      await mkdir(join(c, 'opq'));
      await writeFile(join(c, 'opq/c'), 'c');
      const changes = await snapshotter.changes('c3');
      expect(changes).toEqual(
        expect.arrayContaining([
          { kind: 'C', path: '/etc' },
          { kind: 'C', path: '/etc/motd' },
          { kind: 'A', path: '/etc/added' },
          { kind: 'D', path: '/new' },
          { kind: 'A', path: '/opq/c' },
        ]),
      );
      expect(changes.map((x) => x.path)).toEqual([...changes.map((x) => x.path)].sort());
      await snapshotter.unpackLayer('l2', snapshotter.layerTar('c3'), () => 'l3');
      const v = await mountAt(await snapshotter.view('v3', 'l3'), 'v3');
      expect(await readFile(join(v, 'etc/motd'), 'utf8')).toBe('changed');
      expect(await readFile(join(v, 'etc/added'), 'utf8')).toBe('a');
      await expect(lstat(join(v, 'new'))).rejects.toThrow();
      await expect(lstat(join(v, 'opq/b'))).rejects.toThrow();
      expect(await readFile(join(v, 'opq/c'), 'utf8')).toBe('c');
    });

    it('refuses to remove a layer that others depend on', async () => {
      await expect(snapshotter.remove('l1')).rejects.toThrow(/depends on it/);
    });

    it('repairs half-unpacked layers after a crash', async () => {
      await snapshotter.prepare('extract-crashed', 'l2');
      const reopened = await Snapshotter.open({ root: join(root, 'store'), driver });
      expect(await reopened.repair()).toEqual(['extract-crashed']);
      expect(reopened.has('l2')).toBe(true);
    });
  });
}

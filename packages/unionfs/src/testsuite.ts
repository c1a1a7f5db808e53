/**
 * The snapshotter conformance suite (like containerd's snapshots/testsuite): every storage
 * driver must pass it. It mounts for real, so it needs root; it registers vitest suites and
 * is meant to be called from a test file: `snapshotterConformance('overlay', root => ...)`.
 */
import { createHash } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mount, mountAll, unmount } from './mount.js';
import type { Snapshotter } from './snapshotter.js';

export interface LayerEntry {
  name: string;
  body?: string;
  type?: 'file' | 'directory' | 'symlink';
  linkname?: string;
  mode?: number;
}

/** An uncompressed layer tarball made of `entries`. */
export function layerTarball(entries: readonly LayerEntry[]): Readable {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header: Parameters<tar.Pack['entry']>[0] = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      mtime: new Date(1_700_000_000_000),
      ...(e.linkname ? { linkname: e.linkname } : {}),
    };
    if (type === 'file') pack.entry(header, e.body ?? '');
    else pack.entry(header);
  }
  pack.finalize();
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

async function digestOf(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function tarNames(stream: Readable): Promise<string[]> {
  const names: string[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, s, next) => {
      names.push(h.name);
      s.resume();
      s.on('end', next);
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  stream.pipe(extract);
  await done;
  return names;
}

/**
 * Registers the conformance suite for one driver. `open(root)` must return a fresh
 * snapshotter storing under `root` (and the same one again when called with the same root).
 */
export function snapshotterConformance(driver: string, open: (root: string) => Promise<Snapshotter>): void {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) console.warn(`snapshotter conformance (${driver}) skipped: mounting needs root`);

  describe.skipIf(!isRoot)(`snapshotter conformance: ${driver}`, () => {
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
    const unmountAt = async (target: string) => {
      await unmount(target);
      mounted.splice(mounted.indexOf(target), 1);
    };

    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), `snap-${driver}-${process.pid}-`));
      snapshotter = await open(join(root, 'store'));
      await snapshotter.unpackLayer(
        undefined,
        layerTarball([
          { name: 'etc/', type: 'directory' },
          { name: 'etc/motd', body: 'base' },
          { name: 'etc/hosts.allow', body: 'ALL' },
          { name: 'gone', body: 'x' },
          { name: 'opq/a', body: 'a' },
          { name: 'bin/', type: 'directory' },
          { name: 'bin/tool', body: '#!', mode: 0o755 },
        ]),
        () => 'l1',
      );
      await snapshotter.unpackLayer(
        'l1',
        layerTarball([
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

    it('mounts views read-only', async () => {
      const dir = await mountAt(await snapshotter.view('v-ro', 'l2'), 'v-ro');
      await expect(writeFile(join(dir, 'x'), 'x')).rejects.toThrow(/EROFS|read-only/);
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

    it('keeps an unchanged snapshot free of changes', async () => {
      await mountAt(await snapshotter.prepare('c-empty', 'l2'), 'c-empty');
      expect(await snapshotter.changes('c-empty')).toEqual([]);
    });

    it('lists a modified file with its parent directories as changed', async () => {
      const c = await mountAt(await snapshotter.prepare('c-modify', 'l2'), 'c-modify');
      await writeFile(join(c, 'etc/motd'), 'changed');
      expect(await snapshotter.changes('c-modify')).toEqual([
        { kind: 'C', path: '/etc' },
        { kind: 'C', path: '/etc/motd' },
      ]);
    });

    it('lists additions and deletions with their parent directories as changed, in walk order', async () => {
      const c = await mountAt(await snapshotter.prepare('c-diff', 'l2'), 'c-diff');
      await writeFile(join(c, 'etc/added'), 'a');
      await rm(join(c, 'etc/hosts.allow'));
      await rm(join(c, 'new'));
      await mkdir(join(c, 'data/sub'), { recursive: true });
      await writeFile(join(c, 'data/sub/x'), 'x');
      await mkdir(join(c, 'data-2'));
      expect(await snapshotter.changes('c-diff')).toEqual([
        { kind: 'A', path: '/data' },
        { kind: 'A', path: '/data/sub' },
        { kind: 'A', path: '/data/sub/x' },
        { kind: 'A', path: '/data-2' },
        { kind: 'C', path: '/etc' },
        { kind: 'A', path: '/etc/added' },
        { kind: 'D', path: '/etc/hosts.allow' },
        { kind: 'D', path: '/new' },
      ]);
    });

    it('turns changes into a deterministic layer that reproduces them', async () => {
      const c = await mountAt(await snapshotter.prepare('c3', 'l2'), 'c3');
      await writeFile(join(c, 'etc/motd'), 'changed');
      await writeFile(join(c, 'etc/added'), 'a');
      await rm(join(c, 'new'));
      await rm(join(c, 'opq'), { recursive: true });
      await mkdir(join(c, 'opq'));
      await writeFile(join(c, 'opq/c'), 'c');
      await writeFile(join(c, 'hard1'), 'same inode');
      await link(join(c, 'hard1'), join(c, 'hard2'));
      await symlink('/etc/motd', join(c, 'motd-link'));
      await writeFile(join(c, 'owned'), 'o', { mode: 0o640 });
      await execa('chown', ['1234:5678', join(c, 'owned')]);
      await execa('chmod', ['4755', join(c, 'bin/tool')]);
      await execa('mkfifo', [join(c, 'fifo')]);
      await execa('mknod', [join(c, 'null2'), 'c', '1', '3']);
      await execa('setfattr', ['-n', 'user.origin', '-v', 'conformance', join(c, 'etc/added')]);

      const changes = await snapshotter.changes('c3');
      expect(changes).toEqual(
        expect.arrayContaining([
          { kind: 'C', path: '/etc' },
          { kind: 'C', path: '/etc/motd' },
          { kind: 'A', path: '/etc/added' },
          { kind: 'D', path: '/new' },
          { kind: 'A', path: '/opq/c' },
          { kind: 'C', path: '/bin/tool' },
        ]),
      );
      expect(await digestOf(snapshotter.layerTar('c3'))).toBe(await digestOf(snapshotter.layerTar('c3')));
      const names = await tarNames(snapshotter.layerTar('c3'));
      expect(names).toContain('.wh.new');
      expect(names.some((n) => n.startsWith('opq/.wh.'))).toBe(true);

      await snapshotter.unpackLayer('l2', snapshotter.layerTar('c3'), () => 'l3');
      const v = await mountAt(await snapshotter.view('v3', 'l3'), 'v3');
      expect(await readFile(join(v, 'etc/motd'), 'utf8')).toBe('changed');
      expect(await readFile(join(v, 'etc/added'), 'utf8')).toBe('a');
      await expect(lstat(join(v, 'new'))).rejects.toThrow();
      await expect(lstat(join(v, 'opq/a'))).rejects.toThrow();
      await expect(lstat(join(v, 'opq/b'))).rejects.toThrow();
      expect(await readdir(join(v, 'opq'))).toEqual(['c']);
      const h1 = await stat(join(v, 'hard1'));
      expect((await stat(join(v, 'hard2'))).ino).toBe(h1.ino);
      expect(await readlink(join(v, 'motd-link'))).toBe('/etc/motd');
      const owned = await lstat(join(v, 'owned'));
      expect([owned.uid, owned.gid, owned.mode & 0o7777]).toEqual([1234, 5678, 0o640]);
      expect((await lstat(join(v, 'bin/tool'))).mode & 0o7777).toBe(0o4755);
      expect((await lstat(join(v, 'fifo'))).isFIFO()).toBe(true);
      const dev = await lstat(join(v, 'null2'));
      expect([dev.isCharacterDevice(), dev.rdev]).toEqual([true, (1 << 8) | 3]);
      const attr = await execa('getfattr', ['--only-values', '-n', 'user.origin', join(v, 'etc/added')]);
      expect(attr.stdout).toBe('conformance');
    });

    it('commits an active snapshot so that children see its changes', async () => {
      const c = await mountAt(await snapshotter.prepare('c4', 'l2'), 'c4');
      await writeFile(join(c, 'committed'), 'yes');
      await unmountAt(c);
      await snapshotter.commit('l4', 'c4');
      expect(snapshotter.stat('l4').kind).toBe('committed');
      const child = await mountAt(await snapshotter.prepare('c5', 'l4'), 'c5');
      expect(await readFile(join(child, 'committed'), 'utf8')).toBe('yes');
      expect(await readFile(join(child, 'etc/motd'), 'utf8')).toBe('base');
    });

    it('makes a layer of a stopped snapshot by copy or in place, as its tarball would unpack', async () => {
      const c = await mountAt(await snapshotter.prepare('c6', 'l2'), 'c6');
      await writeFile(join(c, 'etc/motd'), 'six');
      await rm(join(c, 'etc/hosts.allow'));
      await rm(join(c, 'opq'), { recursive: true });
      await mkdir(join(c, 'opq'));
      await writeFile(join(c, 'opq/d'), 'dd');
      await unmountAt(c);
      let contentSize = -1;
      const digest = await digestOf(
        snapshotter.layerTar('c6', { onDone: (s) => (contentSize = s.contentSize) }),
      );
      const unpacked = await snapshotter.unpackLayer('l2', snapshotter.layerTar('c6'), () => 'l6-unpacked');
      expect(contentSize).toBe(unpacked.contentSize);
      const expectLayer = async (layer: string) => {
        const v = await mountAt(await snapshotter.view(`v-${layer}`, layer), `v-${layer}`);
        expect(await readFile(join(v, 'etc/motd'), 'utf8')).toBe('six');
        await expect(lstat(join(v, 'etc/hosts.allow'))).rejects.toThrow();
        expect(await readdir(join(v, 'opq'))).toEqual(['d']);
        expect(await readFile(join(v, 'bin/tool'), 'utf8')).toBe('#!');
        await unmountAt(v);
        await snapshotter.remove(`v-${layer}`);
      };
      const copyKey = await snapshotter.copyLayer('c6');
      if (copyKey !== undefined) {
        await snapshotter.commit('l6-copied', copyKey, {}, 'l2');
        await expectLayer('l6-copied');
        expect(await digestOf(snapshotter.layerTar('l6-copied'))).toBe(digest);
      }
      await snapshotter.commitInPlace('l6', 'c6', contentSize);
      expect(snapshotter.has('c6')).toBe(false);
      expect(snapshotter.layerSize('l6')).toBe(contentSize);
      await expectLayer('l6');
      await expectLayer('l6-unpacked');
      // The same changes, the same tarball: made in place, the layer still writes that DiffID.
      expect(await digestOf(snapshotter.layerTar('l6'))).toBe(digest);
    });

    it('links a stopped snapshot’s layer, and unshares the snapshot before it is written again', async () => {
      const c = await mountAt(await snapshotter.prepare('c7', 'l2'), 'c7');
      await writeFile(join(c, 'etc/motd'), 'seven');
      await writeFile(join(c, 'seven'), 'kept');
      await link(join(c, 'seven'), join(c, 'seven-link'));
      await unmountAt(c);
      const digest = await digestOf(snapshotter.layerTar('c7'));
      const copyKey = await snapshotter.copyLayer('c7', { link: true });
      if (copyKey === undefined) return; // the copy driver keeps no layer of its own
      await snapshotter.commit('l7', copyKey, {}, 'l2');
      expect(await digestOf(snapshotter.layerTar('l7'))).toBe(digest);
      expect(await digestOf(snapshotter.layerTar('c7'))).toBe(digest);
      // The mark survives a restart: the next mount, by a reopened snapshotter, unshares first.
      const reopened = await open(join(root, 'store'));
      const again = await mountAt(await reopened.mounts('c7'), 'c7-again');
      await writeFile(join(again, 'etc/motd'), 'changed', { flag: 'r+' });
      await writeFile(join(again, 'seven'), 'grown', { flag: 'a' });
      expect(await readFile(join(again, 'seven-link'), 'utf8')).toBe('keptgrown');
      await unmountAt(again);
      const v = await mountAt(await snapshotter.view('v-l7', 'l7'), 'v-l7');
      expect(await readFile(join(v, 'etc/motd'), 'utf8')).toBe('seven');
      expect(await readFile(join(v, 'seven'), 'utf8')).toBe('kept');
      await unmountAt(v);
      await snapshotter.remove('v-l7');
      expect(await digestOf(snapshotter.layerTar('l7'))).toBe(digest);
      expect(await reopened.changes('c7')).toEqual(await snapshotter.changes('c7'));
      await snapshotter.remove('c7');
    });

    it('runs an image of 100 layers', async () => {
      let parent = 'l2';
      for (let i = 1; i <= 100; i++) {
        const name = `deep-${i}`;
        await snapshotter.unpackLayer(
          parent,
          layerTarball([{ name: `layers/${i}`, body: String(i) }]),
          () => name,
        );
        parent = name;
      }
      expect(snapshotter.chain(parent)).toHaveLength(102);
      const c = await mountAt(await snapshotter.prepare('c-deep', parent), 'c-deep');
      expect((await readdir(join(c, 'layers'))).length).toBe(100);
      expect(await readFile(join(c, 'layers/1'), 'utf8')).toBe('1');
      expect(await readFile(join(c, 'layers/100'), 'utf8')).toBe('100');
      expect(await readFile(join(c, 'etc/motd'), 'utf8')).toBe('base');
      await writeFile(join(c, 'layers/50'), 'changed');
      expect(await snapshotter.changes('c-deep')).toEqual([
        { kind: 'C', path: '/layers' },
        { kind: 'C', path: '/layers/50' },
      ]);
    });

    it('accounts the disk usage of a snapshot’s own layer', async () => {
      const c = await mountAt(await snapshotter.prepare('c-usage', 'l2'), 'c-usage');
      const before = await snapshotter.usage('c-usage');
      await writeFile(join(c, 'big'), Buffer.alloc(1024 * 1024, 1));
      const after = await snapshotter.usage('c-usage');
      expect(after.size - before.size).toBeGreaterThanOrEqual(1024 * 1024);
      expect(after.inodes).toBeGreaterThan(before.inodes);
    });

    it('refuses to remove a layer that others depend on, and removes leaves', async () => {
      await expect(snapshotter.remove('l1')).rejects.toThrow(/depends on it/);
      await snapshotter.prepare('c-leaf', 'l2');
      await snapshotter.remove('c-leaf');
      expect(snapshotter.has('c-leaf')).toBe(false);
    });

    it('keeps a layer whose commit was cut short before the active record went', async () => {
      await snapshotter.prepare('c-crash', 'l2', { 'tsctr.container': 'c-crash' });
      await writeFile(join(snapshotter.upperDir('c-crash'), 'kept'), 'kept');
      const meta = join(snapshotter.root, 'metadata', 'c-crash.json');
      const active = await readFile(meta);
      await snapshotter.commit('l-crash', 'c-crash');
      // The crash: the committed record is written, the active one not yet removed.
      await writeFile(meta, active);
      const reopened = await open(join(root, 'store'));
      expect(reopened.has('c-crash')).toBe(false);
      expect(reopened.stat('l-crash').kind).toBe('committed');
      await reopened.repair();
      expect(await readFile(join(reopened.upperDir('l-crash'), 'kept'), 'utf8')).toBe('kept');
    });

    it('repairs half-unpacked layers and unowned directories after a crash', async () => {
      await snapshotter.prepare('extract-crashed', 'l2');
      const reopened = await open(join(root, 'store'));
      expect(await reopened.repair()).toEqual(['extract-crashed']);
      expect(reopened.has('l2')).toBe(true);
      expect(reopened.has('extract-crashed')).toBe(false);
    });
  });
}

import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { ContentStore, ImageStore, chainIds } from '@ts-container/image';
import { Snapshotter, mountAll, unmount } from '@ts-container/unionfs';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GarbageCollectorDeps, collectGarbage } from './gc.js';
import { loadImages, saveImages } from './image-archive.js';
import { ImageService } from './images.js';
import { overlaySkipReason } from './test-support.js';

async function rootfsTar(files: Record<string, string>): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'rootfs-'));
  try {
    for (const [name, body] of Object.entries(files)) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), body);
    }
    const { stdout } = await execa(
      'tar',
      ['-C', dir, '--mtime=@0', '--owner=0', '--group=0', '-cf', '-', '.'],
      {
        encoding: 'buffer',
      },
    );
    return Buffer.from(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function openImageService(root: string, driver: 'copy' | 'overlay'): Promise<ImageService> {
  const content = new ContentStore(join(root, 'content'));
  await content.init();
  const store = new ImageStore(join(root, 'image'), content);
  await store.init();
  const snapshotter = await Snapshotter.open({ root: join(root, 'storage'), driver });
  return new ImageService(content, store, snapshotter);
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('ImageService', () => {
  let root: string;
  let images: ImageService;
  let gcDeps: GarbageCollectorDeps;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), `images-${process.pid}-`));
    // The copy driver needs neither root nor overlayfs.
    images = await openImageService(root, 'copy');
    gcDeps = {
      images,
      imageStore: images.store,
      content: images.content,
      snapshotter: images.snapshotter,
      containerStore: { all: () => [] },
    };
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const noUsers = () => [] as string[];

  it('saves and loads images, keeping the image ID', async () => {
    const id = await images.importRootfs(Readable.from([await rootfsTar({ 'etc/a': 'a' })]), {
      reference: 'demo:1',
    });
    const archive = await collect(await saveImages(images, ['demo:1'], join(root, 'tmp')));
    await images.store.delete(id);
    await collectGarbage(gcDeps);
    expect(await images.content.list()).toEqual([]);
    const messages: string[] = [];
    const loaded = await loadImages(images, Readable.from([archive]), (m) => messages.push(m.stream));
    expect(loaded).toEqual([id]);
    expect(messages).toEqual(['Loaded image: demo:1\n']);
    expect(images.store.resolve('demo:1')).toBe(id);
  });

  it('saves an image by ID without names, and a bare repository with all its tags', async () => {
    const id = await images.importRootfs(Readable.from([await rootfsTar({ a: '1' })]), { reference: 'r:1' });
    await images.store.tag(id, 'r:2');
    const messages: string[] = [];
    const all = await collect(await saveImages(images, ['r'], join(root, 'tmp')));
    await loadImages(images, Readable.from([all]), (m) => messages.push(m.stream));
    expect(messages.sort()).toEqual(['Loaded image: r:1\n', 'Loaded image: r:2\n']);
    messages.length = 0;
    const byId = await collect(await saveImages(images, [id.slice(7, 19)], join(root, 'tmp')));
    await loadImages(images, Readable.from([byId]), (m) => messages.push(m.stream));
    expect(messages).toEqual([`Loaded image ID: ${id}\n`]);
  });

  it('rejects an archive whose layer does not match the config', async () => {
    const id = await images.importRootfs(Readable.from([await rootfsTar({ a: '1' })]), { reference: 'x:1' });
    const archive = await collect(await saveImages(images, ['x:1'], join(root, 'tmp')));
    // Flip one byte inside the layer's file content ("1" → "2").
    const at = archive.indexOf(Buffer.from('1\0'), 512 * 3);
    archive[at] = '2'.charCodeAt(0);
    await images.store.delete(id);
    await collectGarbage(gcDeps);
    await expect(loadImages(images, Readable.from([archive]), () => undefined)).rejects.toThrow();
    // What the failed load stored is removed at once, not left for a later collection.
    expect(await images.content.list()).toEqual([]);
  });

  it('does not collect what a lease holds', async () => {
    const blob = await images.content.put('in flight');
    const lease = images.leases.create();
    lease.add(blob.digest);
    await collectGarbage(gcDeps);
    expect(await images.content.has(blob.digest)).toBe(true);
    lease.release();
    await collectGarbage(gcDeps);
    expect(await images.content.has(blob.digest)).toBe(false);
  });

  it('prunes dangling images, or all unused ones, with label filters', async () => {
    const first = await images.importRootfs(Readable.from([await rootfsTar({ a: '1' })]), {
      reference: 'p:1',
      changes: ['LABEL keep=yes'],
    });
    const second = await images.importRootfs(Readable.from([await rootfsTar({ a: '2' })]), {
      reference: 'p:1',
    });
    expect(images.store.tagsOf(first)).toEqual([]);
    expect(await images.prune({ usedBy: noUsers })).toEqual([{ Deleted: first }]);
    expect(await images.prune({ usedBy: (id) => (id === second ? ['c1'] : []), all: true })).toEqual([]);
    expect(
      await images.prune({ usedBy: noUsers, all: true, filters: new Map([['label', ['keep=yes']]]) }),
    ).toEqual([]);
    expect(await images.prune({ usedBy: noUsers, all: true })).toEqual([
      { Untagged: 'p:1' },
      { Deleted: second },
    ]);
    await expect(images.prune({ usedBy: noUsers, filters: new Map([['bogus', ['1']]]) })).rejects.toThrow(
      "invalid filter 'bogus'",
    );
  });

  it('removes the digest references of a repository with its last tag (moby image_delete.go)', async () => {
    const digest = `sha256:${'d'.repeat(64)}`;
    const remove = (ref: string, force = false) =>
      images.remove(ref, { force, usedBy: noUsers, isRunning: () => false });
    const id = await images.importRootfs(Readable.from([await rootfsTar({ a: '1' })]), {
      reference: 'reg.example/a/b:1',
    });
    await images.store.tag(id, 'reg.example/a/b:2');
    await images.store.tag(id, 'other:1');
    await images.store.update(id, (r) => {
      r.repoDigests.push(`reg.example/a/b@${digest}`);
    });
    // By ID, references in two repositories need force.
    await expect(remove(id.slice(7, 19))).rejects.toThrow(
      `conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
    );
    expect((await remove('reg.example/a/b:1', true)).report).toEqual([{ Untagged: 'reg.example/a/b:1' }]);
    expect((await remove('reg.example/a/b:2')).report).toEqual([
      { Untagged: 'reg.example/a/b:2' },
      { Untagged: `reg.example/a/b@${digest}` },
    ]);
    expect(images.store.references(id)).toEqual(['docker.io/library/other:1']);
    // One tag with digests of its own repository is a single reference: by ID, no force needed.
    await images.store.update(id, (r) => {
      r.repoDigests.push(`docker.io/library/other@${digest}`);
    });
    const removal = await remove(id);
    expect(removal.report).toEqual([
      { Untagged: 'other:1' },
      { Untagged: `other@${digest}` },
      { Deleted: id },
    ]);
    expect(removal.deleted).toEqual([{ id, layers: [expect.stringMatching(/^sha256:/)] }]);
    expect(images.store.has(id)).toBe(false);
  });

  it('keeps within the disk budget by removing the least recently used unused images', async () => {
    const big = 'x'.repeat(100_000);
    const a = await images.importRootfs(Readable.from([await rootfsTar({ a: big })]), { reference: 'a:1' });
    const b = await images.importRootfs(Readable.from([await rootfsTar({ b: big })]), { reference: 'b:1' });
    const c = await images.importRootfs(Readable.from([await rootfsTar({ c: big })]), { reference: 'c:1' });
    await images.markUsed(a, new Date(Date.now() + 60_000));
    // b is least recently used, but a container uses it: c goes first, then a.
    const deleted = await images.enforceBudget(150_000, (id) => (id === b ? ['ctr'] : []));
    expect(deleted).toEqual([c, a]);
    expect(images.store.ids()).toEqual([b]);
    const gc = await collectGarbage(gcDeps);
    expect(gc.layers).toBe(2);
  });
});

const overlayReason = await overlaySkipReason();
if (overlayReason) console.warn(`side-by-side layer unpack tests skipped: ${overlayReason}`);

describe.skipIf(overlayReason !== undefined)(
  'ImageService.ensureLayers on overlay (layers side by side)',
  () => {
    let root: string;
    let images: ImageService;
    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), `layers-${process.pid}-`));
      images = await openImageService(root, 'overlay');
    });
    afterEach(() => rm(root, { recursive: true, force: true }));

    /** Stores 4 one-file layers uncompressed (blob digest = DiffID), returns their DiffIDs. */
    async function layers(): Promise<string[]> {
      const diffIds: string[] = [];
      for (const n of [1, 2, 3, 4])
        diffIds.push((await images.content.put(await rootfsTar({ [`layer${n}`]: String(n) }))).digest);
      return diffIds;
    }

    it('commits every layer on its parent, the merged view holding them all', async () => {
      const diffIds = await layers();
      const chain = await images.ensureLayers(diffIds);
      const snapshotter = images.snapshotter;
      expect(snapshotter.chain(chain[3]!).map((s) => s.key)).toEqual([...chain].reverse());
      const rootfs = join(root, 'merged');
      await snapshotter.prepare('view', chain[3]);
      await mkdir(rootfs);
      await mountAll(await snapshotter.mounts('view'), rootfs);
      try {
        for (const n of [1, 2, 3, 4])
          expect(await readFile(join(rootfs, `layer${n}`), 'utf8')).toBe(String(n));
      } finally {
        await unmount(rootfs);
        await snapshotter.remove('view');
      }
    });

    it('save, rmi, load: the same image ID, DiffIDs and layer content (big layers scanned while stored)', async () => {
      // A layer of many files (GNU tar), one big file (over the 1 MiB kept in memory) and a tiny one.
      const many: Record<string, string> = {};
      // 300 files of 4 KiB: over 1 MiB, so the load scans it as it stores it.
      for (let i = 0; i < 300; i++) many[`many/f${i}`] = `file ${i}\n`.padEnd(4096, '.');
      const layerTars = [
        await rootfsTar(many),
        await rootfsTar({ 'big/blob': 'x'.repeat(3 << 20) }),
        await rootfsTar({ 'etc/tiny': 'tiny' }),
      ];
      const diffIds: string[] = [];
      for (const t of layerTars) diffIds.push((await images.content.put(t)).digest);
      const config = {
        architecture: 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers' as const, diff_ids: diffIds },
        history: diffIds.map(() => ({ created_by: 'test' })),
      };
      await images.ensureLayers(diffIds);
      const id = await images.store.create(config);
      await images.store.tag(id, 'roundtrip:1');
      const archive = await collect(await saveImages(images, ['roundtrip:1'], join(root, 'tmp')));

      await images.store.delete(id);
      await collectGarbage({
        images,
        imageStore: images.store,
        content: images.content,
        snapshotter: images.snapshotter,
        containerStore: { all: () => [] },
      });
      expect(images.snapshotter.list()).toHaveLength(0);
      expect(await images.content.list()).toEqual([]);

      const loaded = await loadImages(images, Readable.from([archive]), () => undefined);
      expect(loaded).toEqual([id]);
      const image = await images.get('roundtrip:1');
      expect(image.record.id).toBe(id);
      expect(image.config.rootfs.diff_ids).toEqual(diffIds);
      const chain = chainIds(diffIds);
      expect(images.snapshotter.chain(chain[2]!).map((s) => s.key)).toEqual([...chain].reverse());
      // The layers were unpacked before the config came (it follows them in the archive): nothing
      // else is left of that, and the blobs stored without waiting for their sync get it.
      expect(images.snapshotter.list().map((s) => s.key)).toEqual(expect.arrayContaining(chain));
      expect(images.snapshotter.list()).toHaveLength(3);
      await images.content.flushUnsynced();
      expect(await readdir(join(root, 'content', 'unsynced'))).toEqual([]);
      const rootfs = join(root, 'merged');
      await images.snapshotter.prepare('view', chain[2]);
      await mkdir(rootfs);
      await mountAll(await images.snapshotter.mounts('view'), rootfs);
      try {
        expect(await readFile(join(rootfs, 'many/f299'), 'utf8')).toBe('file 299\n'.padEnd(4096, '.'));
        expect((await readFile(join(rootfs, 'big/blob'))).length).toBe(3 << 20);
        expect(await readFile(join(rootfs, 'etc/tiny'), 'utf8')).toBe('tiny');
      } finally {
        await unmount(rootfs);
        await images.snapshotter.remove('view');
      }
      // Saved again, the archive is the same bytes.
      expect(
        (await collect(await saveImages(images, ['roundtrip:1'], join(root, 'tmp')))).equals(archive),
      ).toBe(true);
      // Loaded once more over itself: the stored blobs and layers are kept, nothing is added.
      expect(await loadImages(images, Readable.from([archive]), () => undefined)).toEqual([id]);
      expect(images.snapshotter.list()).toHaveLength(3);
      expect(await readdir(join(root, 'content', 'unsynced'))).toEqual([]);
    });

    it('a layer whose content is not its DiffID fails the unpack, and no layer above it is committed', async () => {
      const diffIds = await layers();
      // Layer 3's blob is swapped for another one under its DiffID's name.
      const wrong = await images.content.put(await rootfsTar({ other: 'x' }));
      const blobFor = (d: string) => (d === diffIds[2] ? wrong.digest : d);
      await expect(images.ensureLayers(diffIds, blobFor)).rejects.toThrow(
        `layer ${diffIds[2]}: unpacked content has DiffID ${wrong.digest}`,
      );
      const chain = chainIds(diffIds);
      expect(chain.map((k) => images.snapshotter.has(k))).toEqual([true, true, false, false]);
      // Nothing half-made is left: only the two committed layers are snapshots.
      expect(images.snapshotter.list()).toHaveLength(2);
    });
  },
);

import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore } from './content-store.js';
import { sha256Digest } from './digest.js';
import { DigestMismatchError } from './errors.js';

describe('ContentStore', () => {
  let dir: string;
  let store: ContentStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-'));
    store = new ContentStore(dir);
    await store.init();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('stores blobs by digest and verifies them on read', async () => {
    const info = await store.put('hello');
    expect(info.digest).toBe(sha256Digest('hello'));
    expect(await store.has(info.digest)).toBe(true);
    expect((await store.read(info.digest)).toString()).toBe('hello');
  });

  it('streams a blob in and learns its digest at the end', async () => {
    const info = await store.ingestStream(Readable.from([Buffer.from('a'), Buffer.from('b')]), 'x');
    expect(info).toEqual({ digest: sha256Digest('ab'), size: 2 });
    expect(await readdir(store.ingestDir)).toEqual([]);
  });

  it('resumes an ingest and verifies the whole blob, kept part included', async () => {
    const first = await store.openIngest('ref2');
    await first.write(Buffer.alloc(3 << 20, 7));
    await first.close();
    const again = await store.openIngest('ref2');
    expect(again.offset).toBe(3 << 20);
    await again.write(Buffer.from('tail'));
    const whole = Buffer.concat([Buffer.alloc(3 << 20, 7), Buffer.from('tail')]);
    expect(await again.commit(sha256Digest(whole), whole.length)).toEqual({
      digest: sha256Digest(whole),
      size: whole.length,
    });
    expect((await store.read(sha256Digest(whole))).equals(whole)).toBe(true);
  });

  it('resumes an ingest and refuses a wrong digest, keeping nothing', async () => {
    const first = await store.openIngest('ref1');
    await first.write(Buffer.from('hel'));
    await first.close();
    const again = await store.openIngest('ref1');
    expect(again.offset).toBe(3);
    await again.write(Buffer.from('lo'));
    await expect(again.commit(sha256Digest('other'))).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await store.has(sha256Digest('hello'))).toBe(false);
    expect(await store.has(sha256Digest('other'))).toBe(false);
    expect(await readdir(store.ingestDir)).toEqual([]);
  });
});

describe.skipIf(process.getuid?.() !== 0)('ContentStore on a full disk (root: mounts a tmpfs)', () => {
  it('fails with "no space left on device" and leaves no partial ingest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cs-full-'));
    const { execa } = await import('execa');
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'cs-full', dir]);
    try {
      const store = new ContentStore(dir);
      await store.init();
      const big = Readable.from(Array.from({ length: 8 }, () => Buffer.alloc(1 << 20, 7)));
      await expect(store.ingestStream(big, 'full')).rejects.toThrow(/^no space left on device$/);
      expect(await readdir(store.ingestDir)).toEqual([]);
      expect(await readdir(store.blobDir)).toEqual([]);
    } finally {
      await execa('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe("blobs published with sync: 'later'", () => {
    let dir: string;
    let store: ContentStore;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cs-later-'));
      store = new ContentStore(dir);
      await store.init();
    });
    afterEach(() => rm(dir, { recursive: true, force: true }));
    const ingestLater = async (s: ContentStore, data: Buffer, ref: string) => {
      const w = await s.openIngest(ref, { resume: false, sync: 'later' });
      await w.write(data);
      return w.commit(sha256Digest(data), data.length);
    };
    const markers = () => readdir(join(dir, 'unsynced')).catch(() => []);

    it('are readable at once and lose their marker once synced', async () => {
      const data = Buffer.alloc(2 << 20, 3);
      const blob = await ingestLater(store, data, 'later-1');
      expect((await store.read(blob.digest)).equals(data)).toBe(true);
      expect(await markers()).toEqual([blob.digest.slice(7)]);
      await store.flushUnsynced();
      expect(await markers()).toEqual([]);
      expect((await store.read(blob.digest)).equals(data)).toBe(true);
    });

    it('are checked after a crash: a torn one is removed, an intact one kept', async () => {
      const good = await ingestLater(store, Buffer.from('intact blob'), 'later-2');
      const torn = await ingestLater(store, Buffer.alloc(1 << 20, 9), 'later-3');
      // What a crash before the sync can leave: the name in place, the bytes not all there.
      await writeFile(store.path(torn.digest), Buffer.alloc(4096));
      const restarted = new ContentStore(dir);
      await restarted.init();
      expect(await restarted.verifyUnsynced()).toEqual([torn.digest]);
      expect(await restarted.has(torn.digest)).toBe(false);
      expect((await restarted.read(good.digest)).toString()).toBe('intact blob');
      expect(await markers()).toEqual([]);
    });

    it('never replace a blob stored before, and deleting one drops its marker', async () => {
      const before = await store.put('kept as it was');
      const inode = (await stat(store.path(before.digest))).ino;
      await ingestLater(store, Buffer.from('kept as it was'), 'later-4');
      expect((await stat(store.path(before.digest))).ino).toBe(inode);
      expect(await markers()).toEqual([]);
      const other = await ingestLater(store, Buffer.from('deleted soon'), 'later-5');
      await store.delete(other.digest);
      expect(await markers()).toEqual([]);
    });
  });
});

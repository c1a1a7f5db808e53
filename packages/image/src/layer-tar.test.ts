import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Digest } from './digest.js';
import { type LayerScan, LayerScanner, openScannedLayer, scanLayer } from './fast-extract.js';
import { applyLayer } from './layer-tar.js';
import { type TestTarEntry as Entry, makeTar } from './test-tar.js';

describe('applyLayer', () => {
  let root: string;
  let target: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'layer-'));
    target = join(root, 'rootfs');
    await import('node:fs/promises').then((fs) => fs.mkdir(target));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('unpacks files, links and directories and returns the DiffID', async () => {
    const data = await makeTar([
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/hostname', body: 'box\n', mode: 0o644, mtime: new Date(1_000_000_000) },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
      { name: 'etc/hn2', type: 'link', linkname: 'etc/hostname' },
    ]);
    const result = await applyLayer(Readable.from(data), target, { whiteouts: 'apply' });
    expect(result.diffId).toBe(sha256Digest(data));
    expect(await readFile(join(target, 'etc/hostname'), 'utf8')).toBe('box\n');
    expect((await stat(join(target, 'etc/hostname'))).mtimeMs).toBe(1_000_000_000);
    expect(await readlink(join(target, 'bin/sh'))).toBe('busybox');
    expect((await stat(join(target, 'etc/hn2'))).ino).toBe((await stat(join(target, 'etc/hostname'))).ino);
  });

  it('accepts gzip and applies whiteouts', async () => {
    await applyLayer(
      Readable.from(
        await makeTar([
          { name: 'a/x', body: '1' },
          { name: 'a/y', body: '2' },
          { name: 'b/z', body: '3' },
        ]),
      ),
      target,
      {
        whiteouts: 'apply',
      },
    );
    const upper = await makeTar([
      { name: 'a/.wh.x' },
      { name: 'b/.wh..wh..opq' },
      { name: 'b/new', body: 'n' },
    ]);
    await applyLayer(Readable.from(upper).pipe(createGzip()), target, { whiteouts: 'apply' });
    await expect(lstat(join(target, 'a/x'))).rejects.toThrow();
    expect(await readFile(join(target, 'a/y'), 'utf8')).toBe('2');
    await expect(lstat(join(target, 'b/z'))).rejects.toThrow();
    expect(await readFile(join(target, 'b/new'), 'utf8')).toBe('n');
  });

  it('keeps whiteouts in overlay form', async () => {
    await applyLayer(Readable.from(await makeTar([{ name: 'a/.wh.x' }])), target, { whiteouts: 'overlay' });
    const st = await lstat(join(target, 'a/x'));
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
  });

  describe('contains hostile archives', () => {
    it('rejects ../ traversal', async () => {
      const data = await makeTar([{ name: '../escape', body: 'x' }]);
      await expect(applyLayer(Readable.from(data), target, { whiteouts: 'apply' })).rejects.toThrow(
        /escapes the root/,
      );
      await expect(lstat(join(root, 'escape'))).rejects.toThrow();
    });

    it('keeps absolute names inside the root', async () => {
      await applyLayer(Readable.from(await makeTar([{ name: '/abs', body: 'x' }])), target, {
        whiteouts: 'apply',
      });
      expect(await readFile(join(target, 'abs'), 'utf8')).toBe('x');
    });

    it('resolves a symlink to / inside the root when writing through it', async () => {
      const data = await makeTar([
        { name: 'link', type: 'symlink', linkname: root },
        { name: 'link/pwned', body: 'x' },
      ]);
      await applyLayer(Readable.from(data), target, { whiteouts: 'apply' });
      await expect(lstat(join(root, 'pwned'))).rejects.toThrow();
      expect(await readFile(join(target, root, 'pwned'), 'utf8')).toBe('x');
    });

    it('resolves relative ../ symlinks inside the root', async () => {
      const data = await makeTar([
        { name: 'up', type: 'symlink', linkname: '../../../..' },
        { name: 'up/pwned2', body: 'x' },
      ]);
      await applyLayer(Readable.from(data), target, { whiteouts: 'apply' });
      await expect(lstat(join(root, 'pwned2'))).rejects.toThrow();
      expect(await readFile(join(target, 'pwned2'), 'utf8')).toBe('x');
    });

    it('keeps hard links inside the root', async () => {
      const data = await makeTar([{ name: 'hl', type: 'link', linkname: '../../../etc/passwd' }]);
      await expect(applyLayer(Readable.from(data), target, { whiteouts: 'apply' })).rejects.toThrow(
        /escapes the root/,
      );
    });
  });
});

describe('applyLayer fast path (pre-scan + GNU tar) for overlay layers read from a file', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'layer-fast-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  async function applyBoth(data: Buffer): Promise<{ fast: string; js: string }> {
    const file = join(root, `layer-${Math.random()}.tar`);
    await writeFile(file, data);
    const fast = join(root, `fast-${Math.random()}`);
    const js = join(root, `js-${Math.random()}`);
    await mkdir(fast);
    await mkdir(js);
    const a = await applyLayer(createReadStream(file), fast, { whiteouts: 'overlay' });
    const b = await applyLayer(createReadStream(file), js, { whiteouts: 'overlay', extractor: 'javascript' });
    expect(a).toEqual(b);
    expect(a.diffId).toBe(sha256Digest(data));
    return { fast, js };
  }

  const tree = async (dir: string) =>
    (await execa('find', [dir, '-mindepth', '1', '-printf', '%P %y %m %U:%G %s %T@ %l\n'])).stdout
      .split('\n')
      // Directory times move as entries are added; whiteout devices are made "now".
      .map((l) => (/^\S+ [dc] /.test(l) ? l.replace(/ \d+(\.\d+)? (?=[^ ]*$)/, ' ') : l))
      .sort();

  // Whiteouts are character devices and opaque directories trusted.* xattrs: both need root.
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) console.warn('fast-path tree test skipped: whiteout devices and trusted.* xattrs need root');
  it.skipIf(!isRoot)('writes the same tree as the JavaScript extractor, whiteouts included', async () => {
    const data = await makeTar([
      { name: 'etc/', type: 'directory', mode: 0o750, mtime: new Date(1_500_000_000_000) },
      {
        name: 'etc/passwd',
        body: 'root:x:0:0',
        mode: 0o600,
        uid: 12,
        gid: 34,
        mtime: new Date(1_000_000_000),
      },
      { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' },
      { name: 'etc/pw2', type: 'link', linkname: 'etc/passwd' },
      { name: 'gone/.wh.file', body: '' },
      { name: 'opaque/.wh..wh..opq', body: '' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: `deep/${'x'.repeat(120)}/${'y'.repeat(120)}`, body: 'long name' },
      { name: 'cap', body: 'x', pax: { 'SCHILY.xattr.user.demo': 'v1' } },
    ]);
    const { fast, js } = await applyBoth(data);
    expect(await tree(fast)).toEqual(await tree(js));
    expect((await lstat(join(fast, 'gone/file'))).isCharacterDevice()).toBe(true);
    const opq = await execa('getfattr', [
      '-n',
      'trusted.overlay.opaque',
      '--only-values',
      join(fast, 'opaque'),
    ]);
    expect(opq.stdout).toBe('y');
    for (const dir of [fast, js]) {
      const attr = await execa('getfattr', ['-n', 'user.demo', '--only-values', join(dir, 'cap')]);
      expect(attr.stdout).toBe('v1');
    }
    expect((await lstat(join(fast, 'etc/passwd'))).uid).toBe(
      process.getuid?.() === 0 ? 12 : process.getuid?.(),
    );
  });

  it.skipIf(!isRoot)(
    'a layer scanned while it was stored, in small chunks, extracts as the JavaScript extractor does',
    async () => {
      const entries: Entry[] = [{ name: 'd/', type: 'directory', mode: 0o755, mtime: new Date(1e12) }];
      // Past the entries below which tar is not started; a pax name crosses the chunks too.
      for (let i = 0; i < 80; i++)
        entries.push({ name: `d/f${i}`, body: `${i}`.repeat(i * 37), mode: 0o640 });
      entries.push({ name: `d/${'p'.repeat(150)}`, body: 'pax', pax: { comment: 'c'.repeat(700) } });
      entries.push({ name: 'd/l', type: 'link', linkname: 'd/f3' });
      const data = await makeTar(entries);
      const scanOf = (bytes: Buffer) => {
        const scanner = new LayerScanner({ hash: false });
        for (let at = 0; at < bytes.length; at += 333) scanner.push(bytes.subarray(at, at + 333));
        return scanner.finish(sha256Digest(bytes));
      };
      const file = join(root, 'scanned.tar');
      await writeFile(file, data);
      const scan = scanOf(data);
      // The file's scan reads the headers alone; its DiffID is hashed beside the extraction.
      expect(scan).toEqual({ diffId: sha256Digest(data), ...(await scanLayer(file)) });
      const fast = join(root, 'fast');
      const js = join(root, 'js');
      await mkdir(fast);
      await mkdir(js);
      const a = await applyLayer(openScannedLayer(file, scan), fast, { whiteouts: 'overlay' });
      const b = await applyLayer(createReadStream(file), js, {
        whiteouts: 'overlay',
        extractor: 'javascript',
      });
      expect(a).toEqual(b);
      expect(await tree(fast)).toEqual(await tree(js));

      // A hostile layer's scan carries the refusal; nothing is written.
      const hostile = await makeTar([{ name: '../escape', body: 'x' }]);
      const hostileFile = join(root, 'hostile.tar');
      await writeFile(hostileFile, hostile);
      await mkdir(join(root, 'h'));
      await expect(
        applyLayer(openScannedLayer(hostileFile, scanOf(hostile)), join(root, 'h'), { whiteouts: 'overlay' }),
      ).rejects.toThrow(/escapes the root/);
      await expect(lstat(join(root, 'escape'))).rejects.toThrow();
    },
  );

  it.skipIf(!isRoot)(
    'a big layer (its DiffID hashed on a worker thread) extracts and hashes the same',
    async () => {
      const big = { name: 'big', body: 'b'.repeat(33 << 20), mode: 0o644 };
      const { fast, js } = await applyBoth(
        await makeTar([{ name: 'd/', type: 'directory', mode: 0o755 }, { name: 'd/f', body: 'f' }, big]),
      );
      expect(await tree(fast)).toEqual(await tree(js));
      // One the scan turns away (a name seen twice) goes the careful way, hashed there.
      await applyBoth(await makeTar([big, { name: 'd/f', body: 'f' }, { name: 'd/f', body: 'g' }]));
      // One it refuses fails, whatever the hashing beside it.
      const hostile = join(root, 'big-hostile.tar');
      await writeFile(hostile, await makeTar([big, { name: '../escape', body: 'x' }]));
      await mkdir(join(root, 'h'));
      await expect(
        applyLayer(createReadStream(hostile), join(root, 'h'), { whiteouts: 'overlay' }),
      ).rejects.toThrow(/escapes the root/);
    },
  );

  it('counts the symlinks GNU tar would make twice, and sends a layer mostly of them the careful way', async () => {
    const scan = (entries: Entry[]) => {
      const scanner = new LayerScanner({ hash: true });
      return makeTar(entries).then((data) => {
        scanner.push(data);
        return scanner.finish();
      });
    };
    const links: Entry[] = [
      { name: 'abs', type: 'symlink', linkname: '/bin/busybox' },
      { name: 'up', type: 'symlink', linkname: '../lib/x' },
      { name: 'mid', type: 'symlink', linkname: 'a/../b' },
      { name: 'rel', type: 'symlink', linkname: 'busybox' },
      { name: 'dots', type: 'symlink', linkname: '..x/y..' },
    ];
    const outcome = await scan(links);
    expect(outcome).toBeDefined();
    expect((outcome as LayerScan).delayedSymlinks).toBe(3);

    // Busybox's shape: one binary, hundreds of links to it by absolute name.
    const entries: Entry[] = [{ name: 'bin/', type: 'directory', mode: 0o755, mtime: new Date(1e12) }];
    entries.push({ name: 'bin/busybox', body: 'b'.repeat(300_000), mode: 0o755 });
    for (let i = 0; i < 150; i++)
      entries.push({ name: `bin/tool${i}`, type: 'symlink', linkname: '/bin/busybox' });
    const { fast, js } = await applyBoth(await makeTar(entries));
    expect(await tree(fast)).toEqual(await tree(js));
    expect(await readlink(join(fast, 'bin/tool7'))).toBe('/bin/busybox');
  });

  it('treats a hard link to a symlink as that symlink: nothing goes through it', async () => {
    const data = await makeTar([
      { name: 's', type: 'symlink', linkname: root },
      { name: 'h', type: 'link', linkname: 's' },
      { name: 'h/pwned', body: 'x' },
    ]);
    const scanner = new LayerScanner({ hash: true });
    scanner.push(data);
    // Not for GNU tar: the careful extractor resolves `h` inside the root.
    expect(scanner.finish()).toBeUndefined();
    const { fast } = await applyBoth(data);
    await expect(lstat(join(root, 'pwned'))).rejects.toThrow();
    expect(await readFile(join(fast, root, 'pwned'), 'utf8')).toBe('x');
  });

  it('keeps hostile archives inside the root (falling back to the careful extractor)', async () => {
    const traversal = join(root, 't.tar');
    await writeFile(traversal, await makeTar([{ name: '../escape', body: 'x' }]));
    await mkdir(join(root, 'a'));
    await expect(
      applyLayer(createReadStream(traversal), join(root, 'a'), { whiteouts: 'overlay' }),
    ).rejects.toThrow(/escapes the root/);

    const viaLink = await makeTar([
      { name: 'link', type: 'symlink', linkname: root },
      { name: 'link/pwned', body: 'x' },
      { name: 'up', type: 'symlink', linkname: '../../../..' },
      { name: 'up/pwned2', body: 'x' },
    ]);
    const { fast } = await applyBoth(viaLink);
    await expect(lstat(join(root, 'pwned'))).rejects.toThrow();
    await expect(lstat(join(root, 'pwned2'))).rejects.toThrow();
    expect(await readFile(join(fast, 'pwned2'), 'utf8')).toBe('x');

    const hard = join(root, 'h.tar');
    await writeFile(hard, await makeTar([{ name: 'hl', type: 'link', linkname: '../../../etc/passwd' }]));
    await mkdir(join(root, 'b'));
    await expect(
      applyLayer(createReadStream(hard), join(root, 'b'), { whiteouts: 'overlay' }),
    ).rejects.toThrow(/escapes the root/);
  });
});

import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveError } from './errors.js';
import { extractArchive, normaliseEntryName, resolveInRoot } from './safe-archive.js';
import { type TestTarEntry as Entry, makeTar } from './test-tar.js';

// Both ways of making each entry's system calls (see entry-calls.ts) refuse the same archives.
describe.each(['pooled', 'direct'] as const)('extractArchive, %s calls', (calls) => {
  let dir: string;
  let root: string;
  let outside: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safe-archive-'));
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    await mkdir(root);
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'secret');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const extract = async (
    entries: Entry[],
    options: Parameters<typeof extractArchive>[2] = { whiteouts: 'none' },
  ) => extractArchive(Readable.from([await makeTar(entries)]), root, { calls, ...options });

  it('follows symlinks inside the root only, absolute or relative', async () => {
    await extract([
      { name: 'a', type: 'symlink', linkname: outside },
      { name: 'a/x', body: 'x' },
      { name: 'b', type: 'symlink', linkname: '../../../../../../..' },
      { name: 'b/y', body: 'y' },
      { name: 'c', type: 'symlink', linkname: join(outside, 'secret') },
      { name: 'c', body: 'replaced' },
    ]);
    expect((await readdir(outside)).sort()).toEqual(['secret']);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('secret');
    expect(await readFile(join(root, outside, 'x'), 'utf8')).toBe('x');
    expect(await readFile(join(root, 'y'), 'utf8')).toBe('y');
    // The last component is replaced, never written through.
    expect((await lstat(join(root, 'c'))).isFile()).toBe(true);
  });

  it('keeps a hard link to a symlink a hard link to that symlink', async () => {
    await extract([
      { name: 'all/bin/tool', body: 'binary' },
      { name: 'all/bin/sh', type: 'symlink', linkname: 'tool' },
      { name: 'layer/bin/sh', type: 'link', linkname: 'all/bin/sh' },
      { name: 'layer/bin/tool', type: 'link', linkname: 'all/bin/tool' },
    ]);
    const sh = await lstat(join(root, 'layer/bin/sh'));
    expect(sh.isSymbolicLink()).toBe(true);
    expect(sh.ino).toBe((await lstat(join(root, 'all/bin/sh'))).ino);
    expect(await readlink(join(root, 'layer/bin/sh'))).toBe('tool');
    expect((await lstat(join(root, 'layer/bin/tool'))).nlink).toBe(2);
  });

  it('refuses hard links to missing entries, to directories and through symlinks out of the root', async () => {
    await expect(extract([{ name: 'h', type: 'link', linkname: 'missing' }])).rejects.toThrow(
      /hard link to missing: no such file or directory/,
    );
    await expect(
      extract([
        { name: 'd', type: 'directory' },
        { name: 'h', type: 'link', linkname: 'd' },
      ]),
    ).rejects.toThrow(/is a directory/);
    await expect(
      extract([
        { name: 's', type: 'symlink', linkname: outside },
        { name: 'h', type: 'link', linkname: 's/secret' },
      ]),
    ).rejects.toBeInstanceOf(ArchiveError);
  });

  it('refuses names that climb out with ..', async () => {
    await expect(extract([{ name: '../x', body: 'x' }])).rejects.toThrow(/path escapes the root/);
  });

  it('places entries under `into`, resolving links inside the root', async () => {
    await mkdir(join(root, 'dst'));
    await symlink('/dst', join(root, 'abs'));
    await extract(
      [
        { name: 'f', body: 'f' },
        { name: 'g', type: 'link', linkname: 'f' },
      ],
      { whiteouts: 'none', into: 'abs' },
    );
    expect(await readFile(join(root, 'dst/f'), 'utf8')).toBe('f');
    expect((await lstat(join(root, 'dst/g'))).nlink).toBe(2);
  });

  it('treats .wh. files as ordinary with whiteouts none, and skips devices when asked', async () => {
    await extract(
      [
        { name: '.wh.x', body: 'w' },
        { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 },
      ],
      { whiteouts: 'none', devices: 'skip' },
    );
    expect((await readdir(root)).sort()).toEqual(['.wh.x']);
  });

  it('maps a stream that is not a tar, or is cut short, to ArchiveError', async () => {
    const junk = Buffer.alloc(4096, 0x41);
    await expect(extractArchive(Readable.from([junk]), root, { whiteouts: 'none', calls })).rejects.toThrow(
      new ArchiveError('archive/tar: invalid tar header'),
    );
    const full = await makeTar([{ name: 'big', body: 'x'.repeat(10_000) }]);
    await expect(
      extractArchive(Readable.from([full.subarray(0, 2048)]), root, { whiteouts: 'none', calls }),
    ).rejects.toThrow(new ArchiveError('unexpected EOF'));
  });
});

describe('resolveInRoot', () => {
  it('never leaves the root, and stops at symlink loops', async () => {
    const root = await mkdtemp(join(tmpdir(), 'resolve-'));
    try {
      await symlink('/../../etc', join(root, 'up'));
      await symlink('loop', join(root, 'loop'));
      expect(await resolveInRoot(root, 'up/passwd')).toBe(join(root, 'etc/passwd'));
      expect(await resolveInRoot(root, 'up', false)).toBe(join(root, 'up'));
      await expect(resolveInRoot(root, 'loop/x')).rejects.toThrow(/too many levels of symbolic links/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('normaliseEntryName', () => {
  it('strips ./, leading and trailing slashes, and refuses names that climb out', () => {
    const cases: Array<[string, string]> = [
      ['a', 'a'],
      ['a/b/c', 'a/b/c'],
      ['dir/', 'dir'],
      ['./a', 'a'],
      ['/abs/x', 'abs/x'],
      ['a//b', 'a/b'],
      ['a/./b', 'a/b'],
      ['a/../b', 'b'],
      ['.', ''],
      ['..', ''],
      ['../', ''],
      ['', ''],
      ['.hidden/..x/x..', '.hidden/..x/x..'],
      ['a/..', ''],
      // The root itself, as `/..` is.
      ['..', ''],
      ['../', ''],
    ];
    for (const [name, want] of cases) expect(normaliseEntryName(name), name).toBe(want);
    for (const bad of ['../x', 'a/../../x', '/../x'])
      expect(() => normaliseEntryName(bad), bad).toThrow(/escapes the root/);
  });
});

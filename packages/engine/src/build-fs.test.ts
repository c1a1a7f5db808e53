import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyIntoRoot, globInRoot, isArchive, mkdirInRoot, resolveInRoot } from './build-fs.js';
import { BuildCache } from './build.js';

let dir: string;
let root: string;
let outside: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsctr-build-fs-'));
  root = join(dir, 'root');
  outside = join(dir, 'outside');
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await mkdir(outside);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resolveInRoot', () => {
  it('keeps absolute and relative symlinks and .. inside the root', async () => {
    await symlink('/usr/bin', join(root, 'bin'));
    await symlink(outside, join(root, 'escape'));
    await symlink('../../../..', join(root, 'usr/up'));
    expect(await resolveInRoot(root, '/bin/sh')).toBe(join(root, 'usr/bin/sh'));
    expect(await resolveInRoot(root, '/escape/x')).toBe(join(root, outside, 'x'));
    expect(await resolveInRoot(root, '/usr/up/etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '../../etc')).toBe(join(root, 'etc'));
    expect(await resolveInRoot(root, '/bin', false)).toBe(join(root, 'bin'));
  });

  it('refuses symlink loops', async () => {
    await symlink('/b', join(root, 'a'));
    await symlink('/a', join(root, 'b'));
    await expect(resolveInRoot(root, '/a/x')).rejects.toThrow(/too many levels of symbolic links/);
  });
});

describe('copyIntoRoot', () => {
  // Giving files to another owner, and writing into the 0640 directories it makes, needs root.
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) console.warn('copyIntoRoot owner/mode test skipped: chown to another user needs root');
  it.skipIf(!isRoot)('copies a directory tree with owner and mode, skipping excluded entries', async () => {
    const src = join(dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'a');
    await writeFile(join(src, 'sub/b.log'), 'b');
    await writeFile(join(src, 'sub/c.txt'), 'c');
    await symlink('a.txt', join(src, 'link'));
    await copyIntoRoot(root, src, '/app', {
      owner: { uid: 1000, gid: 1000 },
      mode: 0o640,
      exclude: (rel) => rel.endsWith('.log'),
    });
    expect(await readFile(join(root, 'app/a.txt'), 'utf8')).toBe('a');
    expect(await readFile(join(root, 'app/sub/c.txt'), 'utf8')).toBe('c');
    await expect(lstat(join(root, 'app/sub/b.log'))).rejects.toThrow();
    expect(await readlink(join(root, 'app/link'))).toBe('a.txt');
    const st = await stat(join(root, 'app/a.txt'));
    expect([st.uid, st.gid]).toEqual([1000, 1000]);
    expect(st.mode & 0o777).toBe(0o640);
  });

  it('writes through image symlinks without leaving the root', async () => {
    await symlink(outside, join(root, 'evil'));
    const src = join(dir, 'file');
    await writeFile(src, 'x');
    await copyIntoRoot(root, src, '/evil/file', {});
    expect(await readFile(join(root, outside, 'file'), 'utf8')).toBe('x');
    await expect(lstat(join(outside, 'file'))).rejects.toThrow();
  });

  it('re-includes files inside an excluded directory without copying the rest', async () => {
    const src = join(dir, 'ctx');
    await mkdir(join(src, 'logs'), { recursive: true });
    await writeFile(join(src, 'logs/keep.txt'), 'k');
    await writeFile(join(src, 'logs/drop.txt'), 'd');
    await copyIntoRoot(root, src, '/', {
      exclude: (rel) => rel.startsWith('logs') && rel !== 'logs/keep.txt',
    });
    expect(await readFile(join(root, 'logs/keep.txt'), 'utf8')).toBe('k');
    await expect(lstat(join(root, 'logs/drop.txt'))).rejects.toThrow();
  });
});

describe('helpers', () => {
  it('globInRoot matches each segment like filepath.Match', async () => {
    await writeFile(join(root, 'usr/bin/a1'), '');
    await writeFile(join(root, 'usr/bin/a2'), '');
    await writeFile(join(root, 'usr/bin/b1'), '');
    expect(await globInRoot(root, '/usr/bin/a*')).toEqual(['/usr/bin/a1', '/usr/bin/a2']);
    expect(await globInRoot(root, 'usr/*/?1')).toEqual(['/usr/bin/a1', '/usr/bin/b1']);
    expect(await globInRoot(root, '/nope/*')).toEqual([]);
  });

  it('mkdirInRoot replaces a file in the way and isArchive knows tar and gzip', async () => {
    await writeFile(join(root, 'opt'), 'not a dir');
    await mkdirInRoot(root, '/opt/x');
    expect((await stat(join(root, 'opt/x'))).isDirectory()).toBe(true);
    const gz = join(dir, 'x.gz');
    await writeFile(gz, Buffer.from([0x1f, 0x8b, 8, 0]));
    expect(await isArchive(gz)).toBe(true);
    const plain = join(dir, 'x.txt');
    await writeFile(plain, 'hello');
    expect(await isArchive(plain)).toBe(false);
  });
});

describe('BuildCache', () => {
  it('remembers keys per parent on disk and survives a damaged index', async () => {
    const path = join(dir, 'build-cache.json');
    const cache = new BuildCache(path);
    await cache.set('sha256:p', 'k1', 'sha256:i1');
    await cache.set(null, 'k1', 'sha256:i2');
    const reopened = new BuildCache(path);
    expect(await reopened.get('sha256:p', 'k1')).toBe('sha256:i1');
    expect(await reopened.get(null, 'k1')).toBe('sha256:i2');
    expect(await reopened.get('sha256:other', 'k1')).toBeUndefined();
    expect(await reopened.prune((image) => image === 'sha256:i1')).toBe(1);
    expect(await new BuildCache(path).get(null, 'k1')).toBeUndefined();
    await writeFile(path, '{not json');
    expect(await new BuildCache(path).get('sha256:p', 'k1')).toBeUndefined();
  });
});

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sumLine } from './context-checksum.js';
import { INLINE_HASH_MAX, digestEntry, spoolTar } from './context-index.js';

async function tarOf(
  entries: Array<Partial<tar.Header> & { name: string; body?: string | Buffer }>,
): Promise<Buffer> {
  const pack = tar.pack();
  for (const { body, ...header } of entries) pack.entry(header, body ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('spoolTar', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spool-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('indexes files, symlinks and hard links with where their content sits in the spool', async () => {
    const archive = await tarOf([
      { name: 'd', type: 'directory', mode: 0o750 },
      { name: 'd/a', body: 'alpha', mode: 0o600 },
      { name: 'd/s', type: 'symlink', linkname: 'a' },
      { name: 'h', type: 'link', linkname: 'd/a' },
    ]);
    // Fed in small pieces, as clients send it.
    const pieces = Array.from({ length: Math.ceil(archive.length / 100) }, (_, i) =>
      archive.subarray(i * 100, i * 100 + 100),
    );
    const spool = join(dir, 'ctx.tar');
    const index = await spoolTar(pieces, spool, () => false);
    await index.written;
    expect(index.exact).toBe(true);
    expect(await readFile(spool)).toEqual(archive);
    const a = index.entries.get('d/a')!;
    expect(archive.subarray(a.offset!, a.offset! + a.size!).toString()).toBe('alpha');
    expect(a.perm).toBe(0o600);
    expect(index.entries.get('h')).toBe(a);
    expect(a.inode!.nlink).toBe(2);
    expect(index.entries.get('d/s')).toMatchObject({ type: 'symlink', target: 'a' });
    expect(index.entries.get('d')!.children).toEqual(['a', 's']);
  });

  it('sorts the children of a directory that arrived out of order, each with its entry', async () => {
    const archive = await tarOf([
      { name: 'd', type: 'directory' },
      { name: 'd/c', body: 'c' },
      { name: 'd/a', body: 'a' },
      { name: 'd/b', type: 'directory' },
      { name: 'e', type: 'symlink', linkname: 'd' },
    ]);
    const index = await spoolTar([archive], join(dir, 'order.tar'), () => false);
    const d = index.entries.get('d')!;
    expect(d.children).toEqual(['a', 'b', 'c']);
    expect(d.childEntries).toEqual(['d/a', 'd/b', 'd/c'].map((p) => index.entries.get(p)));
    expect(index.entries.get('.')!.children).toEqual(['d', 'e']);
    const sha = createHash('sha256').update('a').digest('hex');
    expect(sumLine(index.entries.get('d/a')!)).toBe(`\x00file\x00644\x00${sha}\n`);
    expect(sumLine(index.entries.get('e')!)).toBe('\x00symlink\x00777\x00d\n');
  });

  it('leaves an entry below a symlink, or a hard link to a missing entry, to the safe unpack', async () => {
    const below = await tarOf([
      { name: 's', type: 'symlink', linkname: '/tmp' },
      { name: 's/x', body: 'x' },
    ]);
    expect((await spoolTar([below], join(dir, '1.tar'), () => false)).exact).toBe(false);
    const link = await tarOf([{ name: 'h', type: 'link', linkname: 'missing' }]);
    expect((await spoolTar([link], join(dir, '2.tar'), () => false)).exact).toBe(false);
  });

  it('refuses an entry that climbs out of the context, without an uncaught error', async () => {
    const archive = await tarOf([{ name: '../x', body: 'hello' }]);
    await expect(spoolTar([archive], join(dir, 'bad.tar'), () => false)).rejects.toThrow(/escapes the root/);
  });
});

describe('spoolTar: the archive forms it reads, and what it leaves to the safe unpack', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spool-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

  it('reads GNU and POSIX long names as tar writes them', async () => {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
    const src = join(dir, 'src');
    await mkdir(join(src, long), { recursive: true });
    await writeFile(join(src, long, `${'f'.repeat(120)}.txt`), 'deep');
    await symlink(`${'t'.repeat(150)}`, join(src, 'link'));
    for (const format of ['gnu', 'ustar', 'pax']) {
      if (format === 'ustar') continue; // a 120-character base name does not fit ustar
      const archive = execFileSync('tar', [`--format=${format}`, '-cf', '-', '-C', src, '.']);
      const index = await spoolTar([archive], join(dir, `${format}.tar`), () => false);
      expect(index.exact).toBe(true);
      const file = index.entries.get(`${long}/${'f'.repeat(120)}.txt`)!;
      expect(file.sha256).toBe(sha('deep'));
      expect(archive.subarray(file.offset!, file.offset! + file.size!).toString()).toBe('deep');
      expect(index.entries.get('link')).toMatchObject({ type: 'symlink', target: 't'.repeat(150) });
    }
    // ustar splits a long path into prefix and name.
    const ustarName = `${'p'.repeat(90)}/${'q'.repeat(90)}`;
    const archive = await tarOf([
      { name: 'p'.repeat(90), type: 'directory' },
      { name: ustarName, body: 'split' },
    ]);
    const index = await spoolTar([archive], join(dir, 'split.tar'), () => false);
    expect(index.entries.get(ustarName)?.sha256).toBe(sha('split'));
  });

  it('a file too large to hash on arrival is digested from the spool when asked', async () => {
    const big = Buffer.alloc(INLINE_HASH_MAX + 4097, 7);
    const archive = await tarOf([
      { name: 'big', body: big },
      { name: 'small', body: 's' },
    ]);
    const spool = join(dir, 'big.tar');
    const index = await spoolTar([archive], spool, () => false);
    await index.written;
    const entry = index.entries.get('big')!;
    expect(entry.sha256).toBeUndefined();
    expect(await digestEntry(spool, entry)).toBe(sha(big));
    expect(entry.sha256).toBe(sha(big));
    expect(index.entries.get('small')!.sha256).toBe(sha('s'));
  });

  it('zeros are left as holes in the spool, which reads back as the archive', async () => {
    const zeros = Buffer.alloc(4 * INLINE_HASH_MAX + 100);
    const archive = await tarOf([
      { name: 'sparse', body: zeros },
      { name: 'after', body: 'a' },
      { name: 'tail', body: Buffer.alloc(70000) },
    ]);
    const pieces = Array.from({ length: Math.ceil(archive.length / 65536) }, (_, i) =>
      archive.subarray(i * 65536, i * 65536 + 65536),
    );
    const spool = join(dir, 'sparse.tar');
    const index = await spoolTar(pieces, spool, () => false);
    await index.written;
    // (Buffer.equals: a deep comparison of 4 MiB takes vitest half a minute.)
    expect((await readFile(spool)).equals(archive)).toBe(true);
    // Only the batches holding something were written.
    expect((await stat(spool)).blocks * 512).toBeLessThan(archive.length / 2);
    expect(await digestEntry(spool, index.entries.get('sparse')!)).toBe(sha(zeros));
    expect(index.entries.get('after')!.sha256).toBe(sha('a'));
  });

  it('a gzip-compressed context is indexed like the plain one', async () => {
    const archive = await tarOf([
      { name: 'Dockerfile', body: 'FROM scratch\n' },
      { name: 'a', body: 'alpha' },
    ]);
    const plain = await spoolTar([archive], join(dir, 'plain.tar'), (n) => n === 'Dockerfile');
    const gz = await spoolTar([gzipSync(archive)], join(dir, 'gz.tar'), (n) => n === 'Dockerfile');
    expect(await readFile(join(dir, 'gz.tar'))).toEqual(archive);
    expect(gz.entries.get('a')).toEqual(plain.entries.get('a'));
    expect(gz.captured.get('Dockerfile')?.toString()).toBe('FROM scratch\n');
  });

  it('a context cut short is "unexpected EOF"; one that is not a tar is left to the safe unpack', async () => {
    const archive = await tarOf([{ name: 'a', body: 'x'.repeat(2000) }]);
    await expect(spoolTar([archive.subarray(0, 1500)], join(dir, 'cut.tar'), () => false)).rejects.toThrow(
      'unexpected EOF',
    );
    const junk = await spoolTar([randomBytes(4096)], join(dir, 'junk.tar'), () => false);
    expect(junk.exact).toBe(false);
    // Entries after the end block are read by tar-stream, not by the index.
    const after = Buffer.concat([archive, await tarOf([{ name: 'b', body: 'late' }])]);
    expect((await spoolTar([after], join(dir, 'after.tar'), () => false)).exact).toBe(false);
  });

  it('a context that ends right after an entry’s data (no padding, no end blocks) is whole, as for Go', async () => {
    // What the docker CLI sends for `build -f /elsewhere/Dockerfile ctx`: its last entry,
    // .dockerignore, stops at its 47th byte.
    const archive = await tarOf([
      { name: 'a', body: 'alpha' },
      { name: '.dockerignore', body: 'x'.repeat(47) },
    ]);
    const dataEnd = archive.length - 1024 - (512 - 47);
    const index = await spoolTar(
      [archive.subarray(0, dataEnd)],
      join(dir, 'nopad.tar'),
      (n) => n === '.dockerignore',
    );
    expect(index.exact).toBe(true);
    expect(index.captured.get('.dockerignore')?.toString()).toBe('x'.repeat(47));
    expect(index.entries.get('a')!.sha256).toBe(sha('alpha'));
    // Part of the padding is a cut, as it is for Go.
    await expect(
      spoolTar([archive.subarray(0, dataEnd + 10)], join(dir, 'partpad.tar'), () => false),
    ).rejects.toThrow('unexpected EOF');
    // So is a cut inside the data.
    await expect(
      spoolTar([archive.subarray(0, dataEnd - 1)], join(dir, 'cutdata.tar'), () => false),
    ).rejects.toThrow('unexpected EOF');
  });

  it('an old-style entry whose name ends in / is a directory', async () => {
    const archive = await tarOf([
      { name: 'old/', body: '' },
      { name: 'old/f', body: 'f' },
    ]);
    const index = await spoolTar([archive], join(dir, 'old.tar'), () => false);
    expect(index.exact).toBe(true);
    expect(index.entries.get('old')?.type).toBe('directory');
    expect(index.entries.get('old')?.children).toEqual(['f']);
  });
});

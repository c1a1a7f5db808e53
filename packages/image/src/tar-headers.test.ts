import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { canonical } from './fast-extract.js';
import { type ScannedHeader, TarHeaderWalker } from './tar-headers.js';
import { type TestTarEntry, makeTar } from './test-tar.js';

interface Walked {
  headers: ScannedHeader[];
  bodies: Buffer;
  invalid: boolean;
  trailing: boolean;
  atBoundary: boolean;
}

/** Walks `data` handed over in pieces of `piece` bytes, each copied to `shift` bytes into a fresh buffer. */
function walk(data: Buffer, piece: number, shift = 0): Walked {
  const headers: ScannedHeader[] = [];
  const bodies: Buffer[] = [];
  const walker = new TarHeaderWalker(
    (h) => headers.push(h),
    (b) => bodies.push(Buffer.from(b)),
  );
  for (let at = 0; at < data.length; at += piece) {
    const part = data.subarray(at, at + piece);
    const backing = Buffer.alloc(part.length + shift + 8);
    part.copy(backing, shift);
    walker.push(backing.subarray(shift, shift + part.length));
  }
  return {
    headers,
    bodies: Buffer.concat(bodies),
    invalid: walker.invalid,
    trailing: walker.trailing,
    atBoundary: walker.atBoundary,
  };
}

/** What tar-stream reads of each entry's header, and the bodies of its regular files. */
async function reference(data: Buffer): Promise<{ headers: Partial<ScannedHeader>[]; bodies: Buffer }> {
  const extract = tar.extract();
  const headers: Partial<ScannedHeader>[] = [];
  const bodies: Buffer[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      headers.push({
        name: h.type === 'directory' && !h.name.endsWith('/') ? `${h.name}/` : h.name,
        type: h.type ?? 'file',
        size: h.size ?? 0,
        mtime: h.mtime,
        linkname: h.linkname ?? '',
        mode: h.mode,
      });
      for await (const chunk of entry) if (h.type === 'file') bodies.push(chunk as Buffer);
    }
  })();
  extract.end(data);
  await done;
  return { headers, bodies: Buffer.concat(bodies) };
}

const pick = (h: ScannedHeader) => ({
  name: h.name,
  type: h.type,
  size: h.size,
  mtime: h.mtime,
  linkname: h.linkname,
  mode: h.mode,
});

const entries: TestTarEntry[] = [
  { name: './', type: 'directory', mode: 0o755, mtime: new Date(5e11) },
  { name: 'etc', type: 'directory', mode: 0o750, mtime: new Date(1e12) },
  { name: 'etc/hostname', body: 'box\n', mode: 0o644, mtime: new Date(1.1e12) },
  { name: 'etc/empty', body: '', mode: 0o600 },
  { name: 'etc/big', body: 'x'.repeat(70_000), mode: 0o644 },
  { name: `long/${'n'.repeat(150)}/${'m'.repeat(120)}`, body: 'deep\n' },
  { name: `prefix/${'p'.repeat(90)}/${'q'.repeat(90)}`, body: 'ustar prefix\n' },
  { name: 'bin/sh', type: 'symlink', linkname: 'busybox', mode: 0o777 },
  { name: 'bin/far', type: 'symlink', linkname: `/${'t'.repeat(130)}` },
  { name: 'etc/hn2', type: 'link', linkname: 'etc/hostname' },
  { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'run/fifo', type: 'fifo', mode: 0o644 },
  { name: 'pax', body: 'attrs\n', pax: { 'SCHILY.xattr.user.k': 'v' } },
  { name: 'née/ünïcödé', body: 'utf-8\n' },
];

describe('TarHeaderWalker', () => {
  it('reads what tar-stream reads, whatever the pieces the bytes come in and their alignment', async () => {
    const data = await makeTar(entries);
    const expected = await reference(data);
    for (const [piece, shift] of [
      [data.length, 0],
      [1 << 20, 0],
      [512, 0],
      [4096, 1],
      [513, 2],
      [7, 3],
      [1, 0],
    ] as const) {
      const walked = walk(data, piece, shift);
      expect(walked.headers.map(pick), `pieces of ${piece} at +${shift}`).toEqual(expected.headers);
      expect(walked.bodies.equals(expected.bodies)).toBe(true);
      expect(walked).toMatchObject({ invalid: false, trailing: false, atBoundary: true });
      expect(walked.headers.map((h) => h.format)).toEqual(entries.map(() => 'ustar'));
      expect(walked.headers.find((h) => h.name === 'pax')).toMatchObject({ xattrs: true });
      expect(walked.headers.filter((h) => h.xattrs)).toHaveLength(1);
    }
  });

  it('can be told to pass over the bodies it would skip', async () => {
    const data = await makeTar(entries);
    const whole: ScannedHeader[] = [];
    const all = new TarHeaderWalker((h) => whole.push(h));
    all.push(data);
    const seen: ScannedHeader[] = [];
    const walker = new TarHeaderWalker((h) => seen.push(h));
    let passed = 0;
    for (let at = 0; at < data.length; ) {
      const skip = walker.skippable;
      if (skip > 0) {
        walker.advance(skip);
        at += skip;
        passed += skip;
      } else {
        walker.push(data.subarray(at, at + 512));
        at += 512;
      }
    }
    expect(seen).toEqual(whole);
    expect(passed).toBeGreaterThan(70_000);
    expect({ open: walker.open, atBoundary: walker.atBoundary }).toEqual({ open: false, atBoundary: true });
    // A walker that hands bodies on has none to pass over while in one.
    const withBodies = new TarHeaderWalker(
      () => undefined,
      () => undefined,
    );
    withBodies.push(data.subarray(0, 512 * 4));
    expect(withBodies.skippable).toBe(0);
    expect(() => withBodies.advance(1)).toThrow(RangeError);
  });

  it('takes the pax mtime, as GNU tar does', async () => {
    const data = await makeTar([{ name: 'pax', body: 'x', pax: { mtime: '1234567890' } }]);
    expect(walk(data, 1 << 20).headers[0]!.mtime).toEqual(new Date(1234567890_000));
  });

  it('gives each entry its byte range, extended headers included', async () => {
    const data = await makeTar(entries);
    const { headers } = walk(data, 1 << 20);
    expect(headers[0]!.start).toBe(0);
    for (let i = 1; i < headers.length; i++) expect(headers[i]!.start).toBe(headers[i - 1]!.end);
    // Then the two zero blocks that end the archive.
    expect(data.subarray(headers.at(-1)!.end).every((b) => b === 0)).toBe(true);
  });

  it('reads GNU long names and links, and GNU and old magics', async (ctx) => {
    if ((await execa('tar', ['--version'], { reject: false })).exitCode !== 0) {
      console.warn('GNU tar format test skipped: GNU tar is missing');
      ctx.skip();
    }
    const root = await mkdtemp(join(tmpdir(), 'walker-'));
    try {
      const deep = `d/${'a'.repeat(120)}/${'b'.repeat(60)}`;
      await mkdir(join(root, 'src', deep), { recursive: true });
      await writeFile(join(root, 'src', deep, 'f'), 'gnu\n');
      await execa('ln', ['-s', join(deep, 'f'), join(root, 'src', 'l')]);
      await mkdir(join(root, 'v7', 'd'), { recursive: true });
      await writeFile(join(root, 'v7', 'd', 'f'), 'v7\n');
      // Whole seconds: POSIX archives carry fractions in pax records, which tar-stream ignores.
      await execa('find', [root, '-exec', 'touch', '-h', '-d', '@1700000000', '{}', '+']);
      for (const format of ['gnu', 'oldgnu', 'v7', 'posix']) {
        const file = join(root, `${format}.tar`);
        const src = join(root, format === 'v7' ? 'v7' : 'src');
        await execa('tar', [`--format=${format}`, '-C', src, '-cf', file, '.']);
        const data = await readFile(file);
        // tar-stream refuses the v7 magic (the walker tells it as `other`).
        const expected = format === 'v7' ? undefined : await reference(data);
        for (const piece of [1 << 20, 100]) {
          const walked = walk(data, piece, piece === 100 ? 1 : 0);
          if (expected) expect(walked.headers.map(pick), format).toEqual(expected.headers);
          expect(walked.headers.some((h) => h.name.endsWith(format === 'v7' ? 'd/f' : 'b/f'))).toBe(true);
          expect(new Set(walked.headers.map((h) => h.format))).toEqual(
            new Set([format === 'posix' ? 'ustar' : format === 'v7' ? 'other' : 'gnu']),
          );
        }
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('stops as invalid at a block whose checksum is wrong, as ended at zero blocks', async () => {
    const data = await makeTar(entries.slice(0, 3));
    const bad = Buffer.from(data);
    bad[512 + 10] = bad[512 + 10]! ^ 1;
    for (const piece of [1 << 20, 3]) {
      const walked = walk(bad, piece, 1);
      expect(walked.invalid).toBe(true);
      expect(walked.headers).toHaveLength(1);
      const tail = Buffer.concat([data, Buffer.from('junk')]);
      expect(walk(tail, piece).trailing).toBe(true);
      expect(walk(tail, piece).headers).toHaveLength(3);
    }
  });
});

describe('canonical', () => {
  it('drops leading ./ and / and trailing /', () => {
    expect(canonical('./usr/bin/ls')).toBe('usr/bin/ls');
    expect(canonical('usr/bin/ls')).toBe('usr/bin/ls');
    expect(canonical('etc/')).toBe('etc');
    expect(canonical('etc//')).toBe('etc');
    expect(canonical('/abs/x')).toBe('abs/x');
    expect(canonical('././a')).toBe('a');
    expect(canonical('.//a/b/')).toBe('a/b');
    expect(canonical('//a')).toBe('a');
  });

  it('makes the root of ., ./, / and the empty name', () => {
    for (const raw of ['', '.', './', '/', './/', '././', './.', '//.'])
      expect(canonical(raw), JSON.stringify(raw)).toBe('');
  });

  it('keeps names that only look like dot components', () => {
    for (const raw of ['.wh.foo', 'a/.wh..wh..opq', '..foo/x', 'a/.b', 'a/...', 'a/..b', '.a/b.', 'a.'])
      expect(canonical(raw), raw).toBe(raw);
  });

  it('gives up on empty, . and .. components inside', () => {
    for (const raw of ['a//b', 'a/./b', 'a/.', './a/./', 'a/..', 'a/../b', 'a/b/../c/'])
      expect(canonical(raw), raw).toBeUndefined();
  });

  it('throws for names that climb above the root', () => {
    for (const raw of ['..', '../x', './..', '/../x', 'a/../../x', 'a/../..'])
      expect(() => canonical(raw), raw).toThrow(/escapes the root/);
  });
});

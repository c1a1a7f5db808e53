import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overlayLayerTar } from './layer-writer.js';
import { type EntryHeader, TarEncoder } from './tar-encoder.js';

/**
 * The encoder must write the bytes tar-stream wrote for the same entries: layers (and so
 * DiffIDs and image IDs) made before it must come out the same.
 */
async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const when = new Date('2024-01-02T03:04:05Z');
const deep = Array.from({ length: 12 }, (_, i) => `directory-${i}`).join('/');

/** Entries of every kind the layer writer makes, with names and values at the format's limits. */
function entries(dir: string): Array<{ header: EntryHeader; file?: string; body?: Buffer }> {
  const file = (name: string, body: Buffer, extra: Partial<EntryHeader> = {}) => ({
    header: { name, type: 'file' as const, mode: 0o644, mtime: when, size: body.length, ...extra },
    file: join(dir, `f${createHash('sha1').update(name).digest('hex')}`),
    body,
  });
  const big = Buffer.alloc(700 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;
  return [
    { header: { name: 'dir/', type: 'directory', mode: 0o755, mtime: when } },
    { header: { name: 'setgid/', type: 'directory', mode: 0o2750, mtime: when, uid: 1, gid: 2 } },
    file('dir/empty', Buffer.alloc(0)),
    file('dir/one', Buffer.from('x')),
    file('dir/block-511', Buffer.alloc(511, 1)),
    file('dir/block-512', Buffer.alloc(512, 2)),
    file('dir/block-513', Buffer.alloc(513, 3), { mode: 0o4755, uid: 1000, gid: 1000 }),
    file('dir/mode-zero', Buffer.from('zero'), { mode: 0 }),
    file('dir/huge-ids', Buffer.from('ids'), { uid: 3_000_000, gid: 65534 }),
    file('big', big),
    file(`${deep}/${'n'.repeat(90)}`, Buffer.from('split into prefix and name')),
    file(`${'p'.repeat(120)}`, Buffer.from('no slash to split at')),
    file(`${'q'.repeat(160)}/${'r'.repeat(90)}`, Buffer.from('prefix too long')),
    file('naïve/ünïcode', Buffer.from('utf-8 name')),
    file('xattrs', Buffer.from('with pax'), {
      pax: {
        'SCHILY.xattr.user.a': 'value',
        'SCHILY.xattr.security.capability': 'é\u0001',
        // A record of 98 bytes: its length field grows to 3 digits.
        'SCHILY.xattr.user.edge': 'v'.repeat(73),
      },
    }),
    { header: { name: 'link', type: 'link', mode: 0o644, mtime: when, linkname: 'dir/one' } },
    { header: { name: 'sym', type: 'symlink', mode: 0o777, mtime: when, linkname: '../target' } },
    { header: { name: 'sym-long', type: 'symlink', mode: 0o777, mtime: when, linkname: 't/'.repeat(60) } },
    { header: { name: 'sym-utf8', type: 'symlink', mode: 0o777, mtime: when, linkname: 'ziel-ü' } },
    { header: { name: 'sym-empty', type: 'symlink', mode: 0o777, mtime: when, linkname: '' } },
    {
      header: { name: 'null', type: 'character-device', mode: 0o666, mtime: when, devmajor: 1, devminor: 3 },
    },
    { header: { name: 'sda', type: 'block-device', mode: 0o660, mtime: when, devmajor: 8, devminor: 0 } },
    { header: { name: 'pipe', type: 'fifo', mode: 0o600, mtime: when } },
    { header: { name: 'dir/.wh.gone', type: 'file', mode: 0o644, mtime: new Date(0), size: 0 } },
    { header: { name: 'old', type: 'file', mode: 0o644, mtime: new Date(-86_400_000), size: 0 } },
    ...Array.from({ length: 600 }, (_, i) => file(`many/${i}`, Buffer.alloc(i * 7, i & 0xff))),
  ];
}

describe('TarEncoder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tar-encoder-'));
    for (const e of entries(dir)) if (e.file) await writeFile(e.file, e.body!);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the bytes tar-stream writes for the same entries', async () => {
    const pack = tar.pack();
    const expected = bytesOf(pack as unknown as Readable);
    for (const e of entries(dir)) {
      await new Promise<void>((resolve, reject) =>
        pack.entry(structuredClone(e.header) as tar.Header, e.body ?? Buffer.alloc(0), (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    }
    pack.finalize();

    const encoder = new TarEncoder();
    const actual = bytesOf(encoder.stream);
    for (const e of entries(dir)) {
      await encoder.header(e.header);
      if (e.file) await encoder.fileData(e.file, e.body!.length, e.header.name);
    }
    await encoder.finish();
    const [want, got] = await Promise.all([expected, actual]);
    expect(got.length).toBe(want.length);
    expect(got.equals(want)).toBe(true);
  });

  it('refuses a file that changed size since its header was written', async () => {
    const path = join(dir, 'changing');
    await writeFile(path, 'four');
    const encoder = new TarEncoder();
    encoder.stream.resume();
    const header = { name: 'changing', type: 'file' as const, mode: 0o644, mtime: when, size: 3 };
    await encoder.header(header);
    await expect(encoder.fileData(path, 3, 'changing')).rejects.toThrow(/changed while being archived/);
    await expect(encoder.fileData(path, 5, 'changing')).rejects.toThrow(/changed while being archived/);
  });

  it('stops when its reader goes away', async () => {
    const encoder = new TarEncoder();
    const big = join(dir, 'stop');
    await writeFile(big, Buffer.alloc(4 * 1024 * 1024));
    encoder.stream.destroy();
    await expect(
      (async () => {
        for (let i = 0; i < 10; i++) {
          await encoder.header({
            name: `f${i}`,
            type: 'file',
            mode: 0o644,
            mtime: when,
            size: 4 * 1024 * 1024,
          });
          await encoder.fileData(big, 4 * 1024 * 1024, `f${i}`);
        }
      })(),
    ).rejects.toThrow(/went away/);
  });

  it('ends quietly when the layer tarball’s reader goes away early', async () => {
    // Destroyed before the walk ends: the end of the tarball must not fail unhandled (a daemon
    // serving `docker cp` to a client that hung up would crash).
    const small = join(dir, 'small');
    await mkdir(small);
    await writeFile(join(small, 'file'), 'x');
    const stream = overlayLayerTar(small);
    stream.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stream.destroyed).toBe(true);
  });
});

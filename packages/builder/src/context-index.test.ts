import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spoolTar } from './context-index.js';

async function tarOf(entries: Array<Partial<tar.Header> & { name: string; body?: string }>): Promise<Buffer> {
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

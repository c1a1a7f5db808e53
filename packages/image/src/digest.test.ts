import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashFile, hashFileAside, sha256Digest } from './digest.js';

describe('hashing a file', () => {
  let root: string;
  let file: string;
  let data: Buffer;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'digest-'));
    file = join(root, 'blob');
    // Several 1 MiB chunks and a piece.
    data = randomBytes(3 * (1 << 20) + 12345);
    await writeFile(file, data);
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('gives the same digest and size on this thread and on a worker', async () => {
    const expected = { digest: sha256Digest(data), size: data.length };
    expect(await hashFile(file)).toEqual(expected);
    expect(await hashFileAside(file)).toEqual(expected);
    await writeFile(join(root, 'empty'), '');
    expect(await hashFileAside(join(root, 'empty'))).toEqual({ digest: sha256Digest(''), size: 0 });
  });

  it('fails for a missing file, and stops when told', async () => {
    await expect(hashFileAside(join(root, 'missing'))).rejects.toThrow(/ENOENT/);
    const stop = new AbortController();
    const hashing = hashFileAside(file, stop.signal);
    stop.abort();
    await expect(hashing).rejects.toThrow();
  });
});

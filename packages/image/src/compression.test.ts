import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipFileParallel } from './compression.js';

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('gzipFileParallel', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gzip-parallel-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes gzip members that gunzip reads back as the whole file, the same bytes each time', async () => {
    // Text, then random bytes (stored, not deflated), across several blocks and a short tail.
    const data = Buffer.concat([Buffer.from('layer text '.repeat(40_000)), randomBytes(300_000)]);
    const path = join(dir, 'mixed');
    await writeFile(path, data);
    const first = await collect(gzipFileParallel(path, { blockSize: 64 * 1024, concurrency: 3 }));
    const second = await collect(gzipFileParallel(path, { blockSize: 64 * 1024, concurrency: 1 }));
    expect(gunzipSync(first).equals(data)).toBe(true);
    expect(first.equals(second)).toBe(true);
    // The text part still shrinks.
    expect(first.length).toBeLessThan(data.length);
  });

  it('compresses an empty file to a valid empty gzip stream', async () => {
    const path = join(dir, 'empty');
    await writeFile(path, '');
    expect(gunzipSync(await collect(gzipFileParallel(path))).length).toBe(0);
  });
});

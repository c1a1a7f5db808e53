import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildCache } from './build-cache.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'build-cache-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('BuildCache', () => {
  it('keeps every entry of sets made at once (steps whose writes overlap), in memory and on disk', async () => {
    const path = join(dir, 'build-cache.json');
    const cache = new BuildCache(path);
    const writes = Array.from({ length: 20 }, (_, i) =>
      cache.set(i === 0 ? null : `sha256:p${i}`, `key${i}`, `sha256:i${i}`),
    );
    // Seen at once, before any write is done.
    expect(await cache.get('sha256:p7', 'key7')).toBe('sha256:i7');
    await Promise.all(writes);
    const reread = new BuildCache(path);
    for (let i = 0; i < 20; i++)
      expect(await reread.get(i === 0 ? null : `sha256:p${i}`, `key${i}`)).toBe(`sha256:i${i}`);
    expect(JSON.parse(await readFile(path, 'utf8')).entries).toHaveLength(20);
  });
});

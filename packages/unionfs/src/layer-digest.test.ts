import { createHash } from 'node:crypto';
import { chmod, lchown, lutimes, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overlayLayerTar, treeLayerTar } from './layer-writer.js';

/**
 * The layer a commit writes for a fixed content set has fixed bytes, so a fixed DiffID: these
 * digests are what the layer writer gave before its speed-ups, and must not change (an image
 * committed twice, or by two versions of the engine, keeps its ID).
 */
const root = process.getuid?.() === 0;
if (!root) console.warn('layer digest tests skipped: they set file owners, which needs root');

async function digestOf(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** 1,000 small files in 10 directories, a large file, a symlink, a hard link and odd modes. */
async function fixedTree(dir: string): Promise<void> {
  const when = new Date('2024-01-02T03:04:05Z');
  for (let d = 0; d < 10; d++) {
    const sub = join(dir, `d${d}`);
    await mkdir(sub, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const file = join(sub, `f${f}`);
      await writeFile(file, `file ${d}/${f}\n`.repeat(f + 1));
      await chmod(file, f % 3 === 0 ? 0o755 : 0o644);
      await lchown(file, f % 5, f % 7);
      await utimes(file, when, when);
    }
  }
  const big = Buffer.alloc(600 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  await writeFile(join(dir, 'big'), big);
  await utimes(join(dir, 'big'), when, when);
  await symlink('d0/f1', join(dir, 'link'));
  await lutimes(join(dir, 'link'), when, when);
  await chmod(join(dir, 'd9'), 0o2750);
  for (let d = 0; d < 10; d++) await utimes(join(dir, `d${d}`), when, when);
}

describe.skipIf(!root)('layer tarball digests', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'layer-digest-'));
    await fixedTree(join(dir, 'upper'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('an overlay upper dir gives the same DiffID as before, every time', async () => {
    const first = await digestOf(overlayLayerTar(join(dir, 'upper')));
    expect(first).toBe(OVERLAY_DIGEST);
    expect(await digestOf(overlayLayerTar(join(dir, 'upper')))).toBe(first);
  });

  it('a full-copy snapshot gives the same DiffID as before, every time', async () => {
    const first = await digestOf(treeLayerTar(join(dir, 'upper'), undefined));
    expect(first).toBe(TREE_DIGEST);
    expect(await digestOf(treeLayerTar(join(dir, 'upper'), undefined))).toBe(first);
  });
});

const OVERLAY_DIGEST = 'sha256:b2ba302c48e04bb8c7f97f7d5a2016460b7c97a275e5e0e4a8f0f70f6a745ac3';
const TREE_DIGEST = OVERLAY_DIGEST;

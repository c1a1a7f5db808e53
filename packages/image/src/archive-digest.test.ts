import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { writeImageArchive } from './archive.js';
import { type Digest, sha256Digest } from './digest.js';

/**
 * `docker save` of a fixed image writes fixed bytes: the layer files keep their DiffIDs and
 * the archive its digest. The value is what the writer gave before its speed-ups.
 */
describe('docker save archive bytes', () => {
  it('are the same as before for a fixed two-layer image', async () => {
    const layers = [Buffer.alloc(2 << 20, 1), Buffer.from('second layer '.repeat(10_000))];
    const diffIds = layers.map(sha256Digest);
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }),
    );
    const byDiffId = new Map(diffIds.map((d, i) => [d as string, layers[i]!]));
    const archive = writeImageArchive(
      [{ id: sha256Digest(config) as Digest, config, diffIds, references: ['docker.io/library/fixed:1'] }],
      async (diffId) => {
        const data = byDiffId.get(diffId)!;
        return { size: data.length, open: () => Readable.from([data]) };
      },
    );
    const hash = createHash('sha256');
    for await (const chunk of archive) hash.update(chunk as Buffer);
    expect(`sha256:${hash.digest('hex')}`).toBe(SAVE_DIGEST);
  });
});

const SAVE_DIGEST = 'sha256:ad73da61095637e60b4b264ad72861aacb4625b8b891133057724441654ecde1';

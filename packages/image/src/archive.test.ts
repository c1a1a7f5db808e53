import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readImageArchive, writeImageArchive } from './archive.js';
import { ContentStore } from './content-store.js';
import { type Digest, sha256Digest } from './digest.js';

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function listTar(data: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const extract = tar.extract();
  Readable.from(data).pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) out.set(entry.header.name, await collect(entry));
  return out;
}

describe('image archives', () => {
  let root: string;
  let content: ContentStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'archive-'));
    content = new ContentStore(join(root, 'content'));
    await content.init();
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const layer = Buffer.alloc(3 << 20, 7);
  const diffId = sha256Digest(layer);
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }),
  );
  const id = sha256Digest(config) as Digest;

  it('writes a docker-archive inside an OCI layout, as Docker 25+ does', async () => {
    const data = await collect(
      writeImageArchive(
        [{ id, config, diffIds: [diffId], references: ['docker.io/library/demo:1'] }],
        async () => ({ size: layer.length, open: () => Readable.from([layer]) }),
      ),
    );
    const files = await listTar(data);
    expect([...files.keys()]).toEqual(
      expect.arrayContaining(['index.json', 'manifest.json', 'oci-layout', 'repositories']),
    );
    const manifest = JSON.parse(files.get('manifest.json')!.toString());
    expect(manifest).toEqual([
      {
        Config: `blobs/sha256/${id.slice(7)}`,
        RepoTags: ['demo:1'],
        Layers: [`blobs/sha256/${diffId.slice(7)}`],
      },
    ]);
    expect(JSON.parse(files.get('repositories')!.toString())).toEqual({ demo: { '1': id.slice(7) } });
    const index = JSON.parse(files.get('index.json')!.toString());
    expect(index.manifests[0].annotations['io.containerd.image.name']).toBe('docker.io/library/demo:1');
    const ociManifest = files.get(`blobs/sha256/${index.manifests[0].digest.slice(7)}`)!;
    expect(sha256Digest(ociManifest)).toBe(index.manifests[0].digest);
    expect(files.get(`blobs/sha256/${diffId.slice(7)}`)!.equals(layer)).toBe(true);

    // And reads it back (gzip-compressed too), big layers streamed into the store.
    const gz = await collect(Readable.from([data]).pipe(createGzip()));
    const result = await readImageArchive(Readable.from([gz]), content);
    expect(result.images).toHaveLength(1);
    expect(result.images[0]!.configDigest).toBe(id);
    expect(result.images[0]!.references).toEqual(['demo:1']);
    expect(result.images[0]!.layers[0]!.digest).toBe(diffId);
    expect(await content.has(diffId)).toBe(true);
  });

  it('reads an OCI layout without manifest.json and follows legacy symlinks', async () => {
    const pack = tar.pack();
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: id, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: diffId, size: layer.length }],
      }),
    );
    const md = sha256Digest(manifest);
    pack.entry({ name: `blobs/sha256/${diffId.slice(7)}` }, layer);
    pack.entry({ name: `blobs/sha256/${id.slice(7)}` }, config);
    pack.entry({ name: `blobs/sha256/${md.slice(7)}` }, manifest);
    pack.entry(
      { name: 'index.json' },
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: md,
            size: manifest.length,
            annotations: { 'org.opencontainers.image.ref.name': 'latest' },
          },
        ],
      }),
    );
    pack.finalize();
    const result = await readImageArchive(Readable.from([await collect(pack)]), content);
    // A bare tag as ref.name does not name the image.
    expect(result.images[0]!.references).toEqual([]);
    expect(result.images[0]!.configDigest).toBe(id);
  });

  it('rejects an archive with neither manifest.json nor index.json', async () => {
    const pack = tar.pack();
    pack.entry({ name: '../../etc/passwd' }, 'x');
    pack.finalize();
    await expect(readImageArchive(Readable.from([await collect(pack)]), content)).rejects.toThrow(
      /does not contain a manifest.json/,
    );
  });
});

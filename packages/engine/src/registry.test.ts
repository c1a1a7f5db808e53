import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentStore, ImageStore, MediaType, chainIds, sha256Digest } from '@ts-container/image';
import { Snapshotter } from '@ts-container/unionfs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ImageService } from './images.js';
import { type ProgressSink, RegistryService } from './registry.js';
import { overlaySkipReason } from './test-support.js';

const hasRegistry = await execa('sh', ['-c', 'command -v docker-registry']).then(
  () => true,
  () => false,
);
if (!hasRegistry) console.warn('registry service tests skipped: docker-registry is not installed');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** A layer tarball (uncompressed, as imported layers are stored) with one file. */
async function layerTar(dir: string, name: string, size: number, random = false): Promise<Buffer> {
  const root = join(dir, `layer-${name}`);
  await mkdir(root, { recursive: true });
  await writeFile(join(root, name), random ? randomBytes(size) : Buffer.alloc(size, name));
  const { stdout } = await execa(
    'tar',
    ['-C', root, '--mtime=@0', '--owner=0', '--group=0', '-cf', '-', '.'],
    {
      encoding: 'buffer',
    },
  );
  return Buffer.from(stdout);
}

async function service(
  root: string,
  mirrors: string[] = [],
  driver: 'copy' | 'overlay' = 'copy',
  warnings: string[] = [],
) {
  const content = new ContentStore(join(root, 'content'));
  await content.init();
  const store = new ImageStore(join(root, 'image'), content);
  await store.init();
  const snapshotter = await Snapshotter.open({ root: join(root, 'storage'), driver });
  const images = new ImageService(content, store, snapshotter);
  const registry = new RegistryService(images, content, store, {
    mirrors,
    insecureRegistries: [],
    maxConcurrentDownloads: 3,
    logger: { debug() {}, info() {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) },
  });
  return { content, store, snapshotter, images, registry };
}

type BlobTamper = 'corrupt' | 'cut-once';

/**
 * A proxy in front of the registry that tampers with the response to GET of one blob: flips a
 * byte in the middle (`corrupt`), or drops the connection halfway through once (`cut-once`).
 */
async function tamperingProxy(upstream: string) {
  const rules = new Map<string, BlobTamper>();
  const server = createHttpServer((req, res) => {
    const forward = httpRequest(
      `http://${upstream}${req.url}`,
      { method: req.method, headers: { ...req.headers, host: upstream } },
      (up) => {
        const digest = req.url?.match(/\/blobs\/(sha256:[0-9a-f]{64})$/)?.[1];
        const rule = req.method === 'GET' && digest ? rules.get(digest) : undefined;
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (!rule || up.statusCode !== 200) {
          up.pipe(res);
          return;
        }
        const total = Number(up.headers['content-length']);
        let seen = 0;
        up.on('data', (chunk: Buffer) => {
          if (rule === 'corrupt' && seen <= total / 2 && seen + chunk.length > total / 2) {
            const at = Math.floor(total / 2) - seen;
            chunk[at] = chunk[at]! ^ 0xff;
          }
          if (rule === 'cut-once' && seen + chunk.length > total / 2) {
            rules.delete(digest!);
            res.write(chunk.subarray(0, Math.floor(total / 2) - seen));
            res.socket?.destroy();
            up.destroy();
            return;
          }
          seen += chunk.length;
          res.write(chunk);
        });
        up.on('end', () => res.end());
      },
    );
    // A connection the registry drops under a request the client gave up on is dropped here too.
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return { host, rules, close: () => new Promise((r) => server.close(r)) };
}

const overlayReason = await overlaySkipReason();
if (hasRegistry && overlayReason) console.warn(`streamed-unpack pull tests skipped: ${overlayReason}`);

describe.skipIf(!hasRegistry)('RegistryService against the real registry', () => {
  let dir: string;
  let host: string;
  let proc: ReturnType<typeof spawn>;
  let imageId: string;
  let source: Awaited<ReturnType<typeof service>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `engine-registry-${process.pid}-`));
    host = `127.0.0.1:${await freePort()}`;
    await writeFile(
      join(dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'registry')}\nhttp:\n  addr: ${host}\n`,
    );
    proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (
        await fetch(`http://${host}/v2/`).then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // A two-layer image stored the way `load`/`commit` store it: uncompressed, blob digest = DiffID.
    source = await service(join(dir, 'source'));
    const diffIds: string[] = [];
    for (const [name, size] of [
      ['a', 100_000],
      ['b', 50_000],
    ] as const) {
      const tar = await layerTar(dir, name, size);
      diffIds.push((await source.content.put(tar)).digest);
    }
    imageId = await source.store.create({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/b'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    });
    expect(sha256Digest(await source.content.read(imageId))).toBe(imageId);
    await source.store.tag(imageId, `${host}/library/mirrored:1`);

    // Incompressible layers, so that a blob's middle is well inside its compressed stream.
    const randomIds: string[] = [];
    for (const name of ['r1', 'r2', 'r3'])
      randomIds.push((await source.content.put(await layerTar(dir, name, 400_000, true))).digest);
    const randomId = await source.store.create({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/r3'] },
      rootfs: { type: 'layers', diff_ids: randomIds },
    });
    await source.store.tag(randomId, `${host}/library/random:1`);
    await source.registry.push(`${host}/library/random:1`);
  });
  afterAll(async () => {
    proc?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('pushes uncompressed layers gzip-compressed and re-uses the compressed blobs on a second push', async () => {
    const events: Parameters<ProgressSink>[0][] = [];
    const first = await source.registry.push(`${host}/library/mirrored:1`, {
      onProgress: (e) => events.push(e),
    });
    expect(events.filter((e) => e.status === 'Pushed')).toHaveLength(2); // the layers: the config has no progress line
    expect(events.at(-1)?.status).toBe(`1: digest: ${first.digest} size: ${first.size}`);
    const manifest = JSON.parse(
      Buffer.from(
        await (
          await fetch(`http://${host}/v2/library/mirrored/manifests/1`, {
            headers: { Accept: MediaType.DockerManifest },
          })
        ).arrayBuffer(),
      ).toString('utf8'),
    );
    const diffIds = (await source.store.get(imageId)).config.rootfs.diff_ids;
    expect(manifest.config.digest).toBe(imageId);
    for (const [i, layer] of (manifest.layers as { mediaType: string; digest: string }[]).entries()) {
      expect(layer.mediaType).toBe(MediaType.DockerLayerGzip);
      expect(layer.digest).not.toBe(diffIds[i]);
    }
    const again: Parameters<ProgressSink>[0][] = [];
    const second = await source.registry.push(`${host}/library/mirrored:1`, {
      onProgress: (e) => again.push(e),
    });
    expect(second.digest).toBe(first.digest);
    expect(again.filter((e) => e.status === 'Layer already exists')).toHaveLength(2);
  });

  it('mounts blobs from a repository the image was already pushed to', async () => {
    await source.store.tag(imageId, `${host}/team/copy:1`);
    const events: Parameters<ProgressSink>[0][] = [];
    await source.registry.push(`${host}/team/copy:1`, { onProgress: (e) => events.push(e) });
    expect(events.filter((e) => e.status === 'Mounted from library/mirrored')).toHaveLength(2);
  });

  it('pulls a Docker Hub name through a registry mirror into the same image ID, then finds it up to date', async () => {
    const target = await service(join(dir, 'target'), [`http://${host}`]);
    const events: Parameters<ProgressSink>[0][] = [];
    // docker.io itself is unreachable here: only the mirror can serve this.
    const id = await target.registry.pull('mirrored:1', { onProgress: (e) => events.push(e) });
    expect(id).toBe(imageId);
    expect(target.store.lookup('mirrored:1')).toBe(imageId);
    expect(events[0]).toEqual({ id: '1', status: 'Pulling from library/mirrored' });
    expect(events.filter((e) => e.status === 'Pull complete')).toHaveLength(2);
    expect(events.at(-1)?.status).toBe('Status: Downloaded newer image for mirrored:1');
    expect(events.find((e) => e.status === 'Downloading')?.progress).toMatch(/^\[=*>? *\] /);
    const record = await target.store.get(id);
    expect(record.record.repoDigests.some((d) => d.startsWith('docker.io/library/mirrored@sha256:'))).toBe(
      true,
    );
    // The unpacked layers are there: the last one holds /b.
    const diffIds = record.config.rootfs.diff_ids;
    expect(await target.images.ensureLayers(diffIds)).toHaveLength(2);

    const again: Parameters<ProgressSink>[0][] = [];
    await target.registry.pull('mirrored:1', { onProgress: (e) => again.push(e) });
    expect(again.filter((e) => e.status === 'Already exists')).toHaveLength(2);
    expect(again.some((e) => e.status === 'Downloading')).toBe(false);
    expect(again.at(-1)?.status).toBe('Status: Image is up to date for mirrored:1');
  });

  describe.skipIf(overlayReason !== undefined)('unpacking while downloading (overlay)', () => {
    const layersOf = async (target: Awaited<ReturnType<typeof service>>, ref: string) =>
      chainIds((await target.store.get(target.store.resolve(ref))).config.rootfs.diff_ids);
    const blobDigests = async (ref: string) => {
      const res = await fetch(`http://${host}/v2/library/random/manifests/${ref}`, {
        headers: { Accept: MediaType.DockerManifest },
      });
      return ((await res.json()) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
    };

    it('unpacks each layer as it downloads, committed on its parent; the image is the pushed one', async () => {
      const warnings: string[] = [];
      const target = await service(join(dir, 'stream'), [], 'overlay', warnings);
      const unpack = vi.spyOn(target.snapshotter, 'unpackLayer');
      const id = await target.registry.pull(`${host}/library/random:1`);
      expect(id).toBe(source.store.lookup(`${host}/library/random:1`));
      // Every layer went through the streaming path (a deferred parent), none fell back.
      expect(unpack.mock.calls).toHaveLength(3);
      for (const call of unpack.mock.calls) expect(typeof call[0]).toBe('function');
      expect(warnings).toEqual([]);
      const chain = await layersOf(target, `${host}/library/random:1`);
      expect(target.snapshotter.stat(chain[0]!).parent).toBeUndefined();
      expect(target.snapshotter.stat(chain[1]!).parent).toBe(chain[0]);
      expect(target.snapshotter.stat(chain[2]!).parent).toBe(chain[1]);
      expect((await readFile(join(target.snapshotter.upperDir(chain[2]!), 'r3'))).length).toBe(400_000);
      expect(
        target.snapshotter
          .list()
          .map((s) => s.key)
          .sort(),
      ).toEqual([...chain].sort());
    });

    it('continues unpacking across a connection cut mid-layer (the download resumes with Range)', async () => {
      const proxy = await tamperingProxy(host);
      try {
        const [, middle] = await blobDigests('1');
        proxy.rules.set(middle!, 'cut-once');
        const warnings: string[] = [];
        const target = await service(join(dir, 'stream-cut'), [], 'overlay', warnings);
        const id = await target.registry.pull(`${proxy.host}/library/random:1`);
        expect(proxy.rules.size).toBe(0); // the cut happened
        expect(id).toBe(source.store.lookup(`${host}/library/random:1`));
        expect(warnings).toEqual([]);
        const chain = await layersOf(target, `${proxy.host}/library/random:1`);
        expect((await readFile(join(target.snapshotter.upperDir(chain[1]!), 'r2'))).length).toBe(400_000);
      } finally {
        await proxy.close();
      }
    });

    it('refuses a corrupted blob: the pull fails with a digest error and keeps no layer of it', async () => {
      const proxy = await tamperingProxy(host);
      try {
        const [, middle] = await blobDigests('1');
        proxy.rules.set(middle!, 'corrupt');
        const target = await service(join(dir, 'stream-corrupt'), [], 'overlay');
        await expect(target.registry.pull(`${proxy.host}/library/random:1`)).rejects.toThrow(
          `filesystem layer verification failed for digest ${middle}`,
        );
        expect(await target.content.has(middle!)).toBe(false);
        const diffIds = (await source.store.get(source.store.resolve(`${host}/library/random:1`))).config
          .rootfs.diff_ids;
        const chain = chainIds(diffIds);
        // Nothing of the bad layer or above it; no half-unpacked directory either.
        expect(target.snapshotter.has(chain[1]!)).toBe(false);
        expect(target.snapshotter.has(chain[2]!)).toBe(false);
        expect(target.snapshotter.list().every((s) => s.kind === 'committed')).toBe(true);
        const dirs = (await readdir(join(dir, 'stream-corrupt', 'storage', 'overlay'))).filter(
          (d) => d !== 'l' && d !== 'metadata',
        );
        expect(dirs).toHaveLength(target.snapshotter.list().length);
        expect(target.store.lookup(`${proxy.host}/library/random:1`)).toBeUndefined();
      } finally {
        await proxy.close();
      }
    });
  });
});

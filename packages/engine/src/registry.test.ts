import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentStore, ImageStore, MediaType, sha256Digest } from '@ts-container/image';
import { Snapshotter } from '@ts-container/unionfs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageService } from './images.js';
import { type ProgressSink, RegistryService } from './registry.js';

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
async function layerTar(dir: string, name: string, size: number): Promise<Buffer> {
  const root = join(dir, `layer-${name}`);
  await mkdir(root, { recursive: true });
  await writeFile(join(root, name), Buffer.alloc(size, name));
  const { stdout } = await execa(
    'tar',
    ['-C', root, '--mtime=@0', '--owner=0', '--group=0', '-cf', '-', '.'],
    {
      encoding: 'buffer',
    },
  );
  return Buffer.from(stdout);
}

async function service(root: string, mirrors: string[] = []) {
  const content = new ContentStore(join(root, 'content'));
  await content.init();
  const store = new ImageStore(join(root, 'image'), content);
  await store.init();
  const snapshotter = await Snapshotter.open({ root: join(root, 'storage'), driver: 'copy' });
  const images = new ImageService(content, store, snapshotter);
  const registry = new RegistryService(images, content, store, {
    mirrors,
    insecureRegistries: [],
    maxConcurrentDownloads: 3,
  });
  return { content, store, snapshotter, images, registry };
}

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
});

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentStore, MediaType, parseReference } from '@ts-container/image';
import { TestRegistry, hasRegistry } from '@ts-container/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from './client.js';
import { loadCredentials, removeCredentials, saveCredentials } from './credentials.js';
import type { ProgressEvent } from './distribution.js';
import { pullImage } from './pull.js';
import { pushImage } from './push.js';

const skip = hasRegistry() ? undefined : 'docker-registry is not installed (tools/bootstrap installs it)';
if (skip) console.warn(`registry tests skipped: ${skip}`);

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An image in a store: two random layers (the registry does not look inside), a config and a manifest. */
async function makeImage(store: ContentStore) {
  const layers = [randomBytes(300_000), randomBytes(150_000)];
  const layerDescs = [];
  for (const l of layers) {
    const info = await store.put(l);
    layerDescs.push({ mediaType: MediaType.DockerLayerGzip, digest: info.digest, size: info.size });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map(sha) },
    }),
  );
  const configInfo = await store.put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, digest: configInfo.digest, size: configInfo.size },
      layers: layerDescs,
    }),
  );
  return {
    manifest,
    configDigest: configInfo.digest,
    blobs: [
      { mediaType: MediaType.DockerConfig, digest: configInfo.digest, size: configInfo.size },
      ...layerDescs,
    ],
  };
}

/** An HTTP proxy in front of the registry that can tamper with blob downloads. */
async function startProxy(
  target: string,
  tamper: (
    req: IncomingMessage,
    body: Buffer,
  ) => { body: Buffer; cut?: boolean; status?: number } | undefined,
): Promise<{ server: Server; host: string }> {
  const server = createServer((req, res) => {
    const upstream = request(
      `http://${target}${req.url}`,
      { method: req.method, headers: { ...req.headers, host: target } },
      (up) => {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = Buffer.concat(chunks);
          const changed =
            req.method === 'GET' && req.url?.includes('/blobs/sha256:') ? tamper(req, body) : undefined;
          if (changed?.status) {
            res.writeHead(changed.status, { 'Content-Length': String(changed.body.length) });
            res.end(changed.body);
            return;
          }
          res.writeHead(up.statusCode ?? 500, up.headers);
          if (changed?.cut) {
            // Let the first half reach the client, then drop the connection.
            res.write(changed.body, () => setTimeout(() => res.socket?.destroy(), 100));
            return;
          }
          res.end(changed?.body ?? body);
        });
      },
    );
    // The registry may drop a kept-alive connection under a request the client gave up on (a
    // cut or retried download): a real proxy passes that on as a dropped connection too.
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe.skipIf(skip !== undefined)('registry client against the real registry', () => {
  let dir: string;
  let registry: TestRegistry;
  let source: ContentStore;
  let image: Awaited<ReturnType<typeof makeImage>>;
  let n = 0;
  const freshStore = async () => {
    const s = new ContentStore(join(dir, `store-${n++}`));
    await s.init();
    return s;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'registry-test-'));
    registry = await TestRegistry.start();
    source = await freshStore();
    image = await makeImage(source);
    const ref = parseReference(`${registry.host}/test/app:1`);
    await pushImage({
      client: new RegistryClient(ref.domain),
      reference: ref,
      store: source,
      blobs: image.blobs,
      manifest: image.manifest,
      manifestMediaType: MediaType.DockerManifest,
    });
  });
  afterAll(async () => {
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips a multi-layer image: push, then pull into a fresh store', async () => {
    const ref = parseReference(`${registry.host}/test/app:1`);
    const target = await freshStore();
    const events: ProgressEvent[] = [];
    const pulled = await pullImage({
      client: new RegistryClient(ref.domain),
      reference: ref,
      store: target,
      onProgress: (e) => events.push(e),
    });
    expect(pulled.manifestDigest).toBe(sha(image.manifest));
    expect(pulled.configDigest).toBe(image.configDigest);
    for (const b of image.blobs)
      expect((await target.read(b.digest)).equals(await source.read(b.digest))).toBe(true);
    expect(events.some((e) => e.status === 'Download complete')).toBe(true);
    // A second pull finds every layer present and downloads nothing.
    const again: ProgressEvent[] = [];
    await pullImage({
      client: new RegistryClient(ref.domain),
      reference: ref,
      store: target,
      onProgress: (e) => again.push(e),
    });
    expect(again.filter((e) => e.status === 'Already exists')).toHaveLength(2);
    expect(again.some((e) => e.status === 'Downloading')).toBe(false);
  });

  it('publishes pulled blobs before their sync, and a crash that tore one loses only that blob', async () => {
    const ref = parseReference(`${registry.host}/test/app:1`);
    const target = await freshStore();
    const pulled = await pullImage({ client: new RegistryClient(ref.domain), reference: ref, store: target });
    const torn = pulled.layers[0]!.digest;
    // A crash before the background sync: the blob's bytes never reached the disk whole.
    await truncate(target.path(torn), 10);
    const restarted = new ContentStore(target.root);
    await restarted.init();
    expect(await restarted.verifyUnsynced()).toEqual([torn]);
    expect(await restarted.has(torn)).toBe(false);
    expect(await restarted.has(pulled.layers[1]!.digest)).toBe(true);
  });

  it('skips blobs the registry already has on a second push', async () => {
    const ref = parseReference(`${registry.host}/test/app:2`);
    const events: ProgressEvent[] = [];
    await pushImage({
      client: new RegistryClient(ref.domain),
      reference: ref,
      store: source,
      blobs: image.blobs,
      manifest: image.manifest,
      manifestMediaType: MediaType.DockerManifest,
      onProgress: (e) => events.push(e),
    });
    expect(events.filter((e) => e.status === 'Layer already exists')).toHaveLength(2); // the two layers (the config has no line)
    expect(events.at(-1)?.status).toBe(`2: digest: ${sha(image.manifest)} size: ${image.manifest.length}`);
  });

  it('resolves a manifest list to the requested platform, linux/amd64 by default', async () => {
    // Two single-platform images behind one OCI index, pushed by digest then the index by tag.
    const client = new RegistryClient(registry.host);
    const entries = [];
    for (const architecture of ['amd64', 'arm64']) {
      const layer = await source.put(randomBytes(1000));
      const config = await source.put(
        JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }),
      );
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: { mediaType: MediaType.OciConfig, ...config },
          layers: [{ mediaType: MediaType.OciLayerGzip, ...layer }],
        }),
      );
      const pushed = await pushImage({
        client,
        reference: parseReference(`${registry.host}/test/multi@${sha(manifest)}`),
        store: source,
        blobs: [
          { mediaType: MediaType.OciConfig, ...config },
          { mediaType: MediaType.OciLayerGzip, ...layer },
        ],
        manifest,
        manifestMediaType: MediaType.OciManifest,
      });
      entries.push({
        mediaType: MediaType.OciManifest,
        digest: pushed.digest,
        size: pushed.size,
        platform: { os: 'linux', architecture, ...(architecture === 'arm64' ? { variant: 'v8' } : {}) },
        config: config.digest,
      });
    }
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: entries.map(({ config: _, ...e }) => e),
      }),
    );
    await pushImage({
      client,
      reference: parseReference(`${registry.host}/test/multi:1`),
      store: source,
      blobs: [],
      manifest: index,
      manifestMediaType: MediaType.OciIndex,
    });
    const ref = parseReference(`${registry.host}/test/multi:1`);
    const amd = await pullImage({ client, reference: ref, store: await freshStore() });
    expect(amd.manifestDigest).toBe(entries[0]!.digest);
    expect(amd.config.architecture).toBe('amd64');
    const arm = await pullImage({
      client,
      reference: ref,
      store: await freshStore(),
      platform: { os: 'linux', architecture: 'arm64' },
    });
    expect(arm.manifestDigest).toBe(entries[1]!.digest);
    expect(arm.configDigest).toBe(entries[1]!.config);
    await expect(
      pullImage({
        client,
        reference: ref,
        store: await freshStore(),
        platform: { os: 'linux', architecture: 's390x' },
      }),
    ).rejects.toThrow('no matching manifest for linux/s390x in the manifest list entries');
  });

  it('reports an unknown tag like Docker', async () => {
    const ref = parseReference(`${registry.host}/test/app:nosuch`);
    await expect(
      pullImage({ client: new RegistryClient(ref.domain), reference: ref, store: await freshStore() }),
    ).rejects.toThrow(`manifest for ${registry.host}/test/app:nosuch not found: manifest unknown`);
  });

  it('resumes a download cut off mid-layer with a Range request', async () => {
    const layer = image.blobs[1]!;
    let cut = false;
    const ranges: string[] = [];
    const proxy = await startProxy(registry.host, (req, body) => {
      if (req.headers.range) ranges.push(req.headers.range);
      if (!cut && req.url?.endsWith(layer.digest) && !req.headers.range) {
        cut = true;
        return { body: body.subarray(0, Math.floor(body.length / 2)), cut: true };
      }
      return undefined;
    });
    try {
      const ref = parseReference(`${proxy.host}/test/app:1`);
      const target = await freshStore();
      await pullImage({
        client: new RegistryClient(ref.domain),
        reference: ref,
        store: target,
        maxConcurrentDownloads: 1,
      });
      expect(cut).toBe(true);
      expect(ranges.some((r) => /^bytes=\d+-$/.test(r) && r !== 'bytes=0-')).toBe(true);
      expect((await target.read(layer.digest)).equals(await source.read(layer.digest))).toBe(true);
    } finally {
      proxy.server.close();
    }
  });

  it('retries a blob download after 503 answers and completes', async () => {
    const failures = new Map<string, number>();
    const proxy = await startProxy(registry.host, (req) => {
      const n = failures.get(req.url ?? '') ?? 0;
      if (n >= 2) return undefined;
      failures.set(req.url ?? '', n + 1);
      return { body: Buffer.from('{"errors":[{"code":"UNAVAILABLE"}]}'), status: 503 };
    });
    try {
      const ref = parseReference(`${proxy.host}/test/app:1`);
      const target = await freshStore();
      const pulled = await pullImage({
        client: new RegistryClient(ref.domain),
        reference: ref,
        store: target,
      });
      expect([...failures.values()].every((n) => n === 2)).toBe(true);
      expect(failures.size).toBe(3);
      for (const b of image.blobs) expect(await target.has(b.digest)).toBe(true);
      expect(pulled.manifestDigest).toBe(sha(image.manifest));
    } finally {
      proxy.server.close();
    }
  });

  it('gives up after bounded retries with an unavailable error', async () => {
    const proxy = await startProxy(registry.host, () => ({ body: Buffer.from('down'), status: 502 }));
    try {
      const ref = parseReference(`${proxy.host}/test/app:1`);
      const err = await pullImage({
        client: new RegistryClient(ref.domain),
        reference: ref,
        store: await freshStore(),
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'unavailable' });
      expect(String(err)).toMatch(/registry answered 502/);
    } finally {
      proxy.server.close();
    }
  });

  it('refuses a corrupted blob with a digest error and stores nothing of it', async () => {
    const layer = image.blobs[2]!;
    const proxy = await startProxy(registry.host, (req, body) => {
      if (!req.url?.endsWith(layer.digest)) return undefined;
      const bad = Buffer.from(body);
      bad[10] = bad[10]! ^ 0xff;
      return { body: bad };
    });
    try {
      const ref = parseReference(`${proxy.host}/test/app:1`);
      const target = await freshStore();
      await expect(
        pullImage({ client: new RegistryClient(ref.domain), reference: ref, store: target }),
      ).rejects.toThrow(`filesystem layer verification failed for digest ${layer.digest}`);
      expect(await target.has(layer.digest)).toBe(false);
    } finally {
      proxy.server.close();
    }
  });
});

describe.skipIf(skip !== undefined)('basic auth and credentials', () => {
  let registry: TestRegistry;
  let dir: string;
  beforeAll(async () => {
    registry = await TestRegistry.start({ htpasswd: { user: 'alice', password: 's3cret' } });
    dir = await mkdtemp(join(tmpdir(), 'registry-auth-'));
  });
  afterAll(async () => {
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('logs in with the right password and refuses a wrong one', async () => {
    await new RegistryClient(registry.host, {
      credentials: { username: 'alice', password: 's3cret' },
    }).ping();
    await expect(
      new RegistryClient(registry.host, { credentials: { username: 'alice', password: 'wrong' } }).ping(),
    ).rejects.toThrow(`login attempt to http://${registry.host}/v2/ failed with status: 401 Unauthorized`);
  });

  it('pushes and pulls with credentials', async () => {
    const store = new ContentStore(join(dir, 'store'));
    await store.init();
    const image = await makeImage(store);
    const ref = parseReference(`${registry.host}/private/app:1`);
    const creds = { username: 'alice', password: 's3cret' };
    await pushImage({
      client: new RegistryClient(ref.domain, { credentials: creds }),
      reference: ref,
      store,
      blobs: image.blobs,
      manifest: image.manifest,
      manifestMediaType: MediaType.DockerManifest,
    });
    const target = new ContentStore(join(dir, 'target'));
    await target.init();
    await expect(
      pullImage({ client: new RegistryClient(ref.domain), reference: ref, store: target }),
    ).rejects.toThrow(`Head "http://${registry.host}/v2/private/app/manifests/1": no basic auth credentials`);
    const pulled = await pullImage({
      client: new RegistryClient(ref.domain, { credentials: creds }),
      reference: ref,
      store: target,
    });
    expect(pulled.configDigest).toBe(image.configDigest);
  });

  it('uses a credential helper (credHelpers) for get, store and erase', async () => {
    const bin = join(dir, 'bin');
    const helperStore = join(dir, 'helper-store.json');
    await mkdir(bin, { recursive: true });
    // A minimal docker-credential-* helper: the protocol is one action argument plus stdin/stdout.
    await writeFile(
      join(bin, 'docker-credential-tsctrtest'),
      `#!/bin/sh\nset -e\nS=${helperStore}\ncase "$1" in\n  store) cat > "$S" ;;\n  get) cat > /dev/null; [ -f "$S" ] || { echo "credentials not found in native keychain"; exit 1; }; jq -c '{Username, Secret}' "$S" ;;\n  erase) rm -f "$S" ;;\nesac\n`,
      { mode: 0o755 },
    );
    const path = join(dir, 'helper-docker', 'config.json');
    await mkdir(join(dir, 'helper-docker'), { recursive: true });
    await writeFile(path, JSON.stringify({ credHelpers: { [registry.host]: 'tsctrtest' } }));
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    try {
      await saveCredentials(path, registry.host, 'alice', 's3cret');
      // The secret lives with the helper, not in config.json.
      expect(await readFile(path, 'utf8')).not.toContain(Buffer.from('alice:s3cret').toString('base64'));
      expect(JSON.parse(await readFile(helperStore, 'utf8'))).toEqual({
        ServerURL: registry.host,
        Username: 'alice',
        Secret: 's3cret',
      });
      expect(await loadCredentials(path, registry.host)).toEqual({ username: 'alice', password: 's3cret' });
      expect(await removeCredentials(path, registry.host)).toBe(true);
      expect(await loadCredentials(path, registry.host)).toBeUndefined();
    } finally {
      process.env.PATH = oldPath;
    }
  });

  it('stores credentials like docker login: base64 auth, mode 0600; logout removes them', async () => {
    const path = join(dir, 'docker', 'config.json');
    await saveCredentials(path, registry.host, 'alice', 's3cret');
    const config = JSON.parse(await readFile(path, 'utf8'));
    expect(config.auths[registry.host].auth).toBe(Buffer.from('alice:s3cret').toString('base64'));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await loadCredentials(path, registry.host)).toEqual({ username: 'alice', password: 's3cret' });
    await saveCredentials(path, 'docker.io', 'bob', 'pw');
    expect(Object.keys(JSON.parse(await readFile(path, 'utf8')).auths)).toContain(
      'https://index.docker.io/v1/',
    );
    expect(await removeCredentials(path, registry.host)).toBe(true);
    expect(await loadCredentials(path, registry.host)).toBeUndefined();
    expect(await removeCredentials(path, registry.host)).toBe(false);
  });
});

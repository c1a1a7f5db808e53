import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  type Descriptor,
  type ImageConfig,
  ImageConfigSchema,
  type ImageReference,
  IndexSchema,
  type Manifest,
  ManifestSchema,
  MediaType,
  hostPlatform,
} from '@ts-container/image';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import { drain, readBody } from './http.js';

/** What pull and push need of a content store (the image package's ContentStore has it). */
export interface BlobStore {
  has(digest: string): Promise<boolean>;
  read(digest: string): Promise<Buffer>;
  put(data: Buffer | string): Promise<{ digest: string; size: number }>;
  createReadStream(digest: string): Readable;
  openIngest(
    ref: string,
    options?: { resume?: boolean },
  ): Promise<{
    offset: number;
    write(chunk: Buffer): Promise<void>;
    commit(expectedDigest: string, expectedSize?: number): Promise<unknown>;
    abort(): Promise<void>;
  }>;
}

/** A progress event, shaped like Docker's JSON progress messages. */
export interface ProgressEvent {
  id?: string;
  status: string;
  progressDetail?: { current: number; total: number };
}

const MANIFEST_ACCEPT = [
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.OciIndex,
].join(', ');
const MAX_ATTEMPTS = 5;

export interface PullOptions {
  client: RegistryClient;
  reference: ImageReference;
  store: BlobStore;
  platform?: { os: string; architecture: string; variant?: string };
  maxConcurrentDownloads?: number;
  onProgress?: (event: ProgressEvent) => void;
}

export interface PullResult {
  manifestDigest: string;
  manifest: Manifest;
  config: ImageConfig;
  configDigest: string;
  layers: Descriptor[];
}

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

function scopeFor(ref: ImageReference, actions: string): string {
  return `repository:${ref.path}:${actions}`;
}

/** Fetches a manifest (resolving an index to the platform's manifest) and its digest. */
export async function fetchManifest(
  client: RegistryClient,
  ref: ImageReference,
  platform: { os: string; architecture: string; variant?: string } = hostPlatform(),
): Promise<{ digest: string; manifest: Manifest; raw: Buffer; mediaType: string }> {
  const scope = scopeFor(ref, 'pull');
  const get = async (target: string) => {
    const res = await client.request(`/v2/${ref.path}/manifests/${target}`, {
      headers: { Accept: MANIFEST_ACCEPT },
      scope,
    });
    const body = await readBody(res);
    if (res.status === 404) {
      throw new RegistryError(
        'not-found',
        `manifest for ${ref.domain}/${ref.path}:${ref.tag ?? ref.digest} not found: manifest unknown: manifest unknown`,
      );
    }
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(
        'unauthorized',
        `pull access denied for ${ref.domain}/${ref.path}, repository does not exist or may require 'docker login'`,
      );
    }
    if (res.status >= 400)
      throw new RegistryError(
        'system',
        `manifest ${target}: registry answered ${res.status}: ${body.toString('utf8').slice(0, 200)}`,
      );
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (target.startsWith('sha256:') && digest !== target)
      throw new RegistryError('invalid-parameter', `manifest verification failed for digest ${target}`);
    return { body, digest, mediaType: String(res.headers['content-type'] ?? '').split(';')[0]! };
  };
  let fetched = await get(ref.digest ?? ref.tag ?? 'latest');
  let json = JSON.parse(fetched.body.toString('utf8')) as { mediaType?: string; manifests?: unknown };
  if (json.manifests !== undefined) {
    const index = IndexSchema.parse(json);
    const match = index.manifests.find(
      (m) =>
        m.platform?.os === platform.os &&
        m.platform.architecture === platform.architecture &&
        (!platform.variant || m.platform.variant === platform.variant),
    );
    if (!match)
      throw new RegistryError(
        'not-found',
        `no matching manifest for ${platform.os}/${platform.architecture} in the manifest list entries`,
      );
    fetched = await get(match.digest);
    json = JSON.parse(fetched.body.toString('utf8')) as { mediaType?: string };
  }
  return {
    digest: fetched.digest,
    manifest: ManifestSchema.parse(json),
    raw: fetched.body,
    mediaType: json.mediaType ?? fetched.mediaType,
  };
}

/**
 * Pulls an image's config and layers into the store: downloads in parallel (bounded), skips
 * blobs already present, resumes an interrupted download with Range, verifies every digest.
 */
export async function pullImage(options: PullOptions): Promise<PullResult> {
  const { client, reference: ref, store } = options;
  const progress = options.onProgress ?? (() => undefined);
  const { digest: manifestDigest, manifest } = await fetchManifest(client, ref, options.platform);
  const configDigest = manifest.config.digest;
  if (!(await store.has(configDigest)))
    await downloadBlob(client, ref, store, manifest.config, () => undefined);
  const config = ImageConfigSchema.parse(JSON.parse((await store.read(configDigest)).toString('utf8')));
  const queue = [...manifest.layers];
  for (const layer of queue) progress({ id: short(layer.digest), status: 'Pulling fs layer' });
  const worker = async () => {
    for (let layer = queue.shift(); layer; layer = queue.shift()) {
      const id = short(layer.digest);
      if (await store.has(layer.digest)) {
        progress({ id, status: 'Already exists' });
        continue;
      }
      await downloadBlob(client, ref, store, layer, (current) =>
        progress({ id, status: 'Downloading', progressDetail: { current, total: layer!.size } }),
      );
      progress({ id, status: 'Verifying Checksum' });
      progress({ id, status: 'Download complete' });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.maxConcurrentDownloads ?? 3) }, worker));
  return { manifestDigest, manifest, config, configDigest, layers: manifest.layers };
}

async function downloadBlob(
  client: RegistryClient,
  ref: ImageReference,
  store: BlobStore,
  blob: Descriptor,
  onBytes: (current: number) => void,
): Promise<void> {
  const ingest = () => store.openIngest(`pull-${blob.digest}`, { resume: true });
  for (let attempt = 1; ; attempt++) {
    const writer = await ingest();
    let offset = writer.offset;
    try {
      if (offset > blob.size) throw new RegistryError('system', 'partial download is larger than the blob');
      if (offset < blob.size) {
        const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
        const res = await client.request(`/v2/${ref.path}/blobs/${blob.digest}`, {
          headers,
          scope: scopeFor(ref, 'pull'),
        });
        if (res.status >= 500 || res.status === 429) {
          drain(res);
          throw new RegistryError('unavailable', `blob ${blob.digest}: registry answered ${res.status}`);
        }
        if (res.status >= 400) {
          drain(res);
          throw new RegistryError(
            res.status === 404 ? 'not-found' : 'system',
            `blob ${blob.digest}: registry answered ${res.status}`,
          );
        }
        // A registry that ignores Range answers 200 with the whole blob: start again.
        if (offset > 0 && res.status !== 206) {
          await writer.abort();
          offset = 0;
          const fresh = await store.openIngest(`pull-${blob.digest}`, { resume: false });
          for await (const chunk of res.body) {
            await fresh.write(chunk as Buffer);
            offset += (chunk as Buffer).length;
            onBytes(offset);
          }
          await commitBlob(fresh, blob);
          return;
        }
        for await (const chunk of res.body) {
          await writer.write(chunk as Buffer);
          offset += (chunk as Buffer).length;
          onBytes(offset);
        }
      }
      await commitBlob(writer, blob);
      return;
    } catch (err) {
      const retryable = !(err instanceof RegistryError) || err.kind === 'unavailable';
      // A partial download stays in the store's ingest area for a later resume.
      if (!retryable || attempt >= MAX_ATTEMPTS) {
        throw err instanceof RegistryError
          ? err
          : new RegistryError('unavailable', `downloading ${blob.digest}: ${(err as Error).message}`, {
              cause: err,
            });
      }
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

async function commitBlob(
  writer: Awaited<ReturnType<BlobStore['openIngest']>>,
  blob: Descriptor,
): Promise<void> {
  try {
    await writer.commit(blob.digest, blob.size);
  } catch (err) {
    throw new RegistryError(
      'invalid-parameter',
      `filesystem layer verification failed for digest ${blob.digest}`,
      { cause: err },
    );
  }
}

export interface PushOptions {
  client: RegistryClient;
  reference: ImageReference;
  store: BlobStore;
  /** Config first or not, every blob the manifest references. */
  blobs: Descriptor[];
  manifest: Buffer;
  manifestMediaType: string;
  onProgress?: (event: ProgressEvent) => void;
}

/** Uploads the blobs the registry lacks, then the manifest; returns the manifest digest. */
export async function pushImage(options: PushOptions): Promise<{ digest: string; size: number }> {
  const { client, reference: ref, store } = options;
  const progress = options.onProgress ?? (() => undefined);
  const scope = scopeFor(ref, 'pull,push');
  for (const blob of options.blobs) progress({ id: short(blob.digest), status: 'Preparing' });
  for (const blob of options.blobs) {
    const id = short(blob.digest);
    const head = await client.request(`/v2/${ref.path}/blobs/${blob.digest}`, { method: 'HEAD', scope });
    drain(head);
    if (head.status === 200) {
      progress({ id, status: 'Layer already exists' });
      continue;
    }
    const start = await client.request(`/v2/${ref.path}/blobs/uploads/`, {
      method: 'POST',
      scope,
      headers: { 'Content-Length': '0' },
    });
    drain(start);
    if (start.status === 401 || start.status === 403)
      throw new RegistryError('unauthorized', 'denied: requested access to the resource is denied');
    if (start.status !== 202)
      throw new RegistryError(
        'system',
        `starting the upload of ${blob.digest}: registry answered ${start.status}`,
      );
    const location = new URL(String(start.headers.location), await client.baseUrl());
    location.searchParams.set('digest', blob.digest);
    progress({ id, status: 'Pushing', progressDetail: { current: 0, total: blob.size } });
    const put = await client.request(location.toString(), {
      method: 'PUT',
      scope,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) },
      body: () => store.createReadStream(blob.digest),
    });
    const body = await readBody(put);
    if (put.status !== 201)
      throw new RegistryError(
        'system',
        `uploading ${blob.digest}: registry answered ${put.status}: ${body.toString('utf8').slice(0, 200)}`,
      );
    progress({ id, status: 'Pushed' });
  }
  const tag = ref.tag ?? 'latest';
  const res = await client.request(`/v2/${ref.path}/manifests/${tag}`, {
    method: 'PUT',
    scope,
    headers: { 'Content-Type': options.manifestMediaType, 'Content-Length': String(options.manifest.length) },
    body: options.manifest,
  });
  const body = await readBody(res);
  if (res.status !== 201)
    throw new RegistryError(
      'system',
      `pushing the manifest: registry answered ${res.status}: ${body.toString('utf8').slice(0, 300)}`,
    );
  const digest = `sha256:${createHash('sha256').update(options.manifest).digest('hex')}`;
  progress({ status: `${tag}: digest: ${digest} size: ${options.manifest.length}` });
  return { digest, size: options.manifest.length };
}

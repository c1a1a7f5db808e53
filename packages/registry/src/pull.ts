import { createHash } from 'node:crypto';
import { hostPlatform } from '@ts-container/common';
import {
  type Descriptor,
  type ImageConfig,
  ImageConfigSchema,
  type ImageReference,
  IndexSchema,
  type Manifest,
  ManifestSchema,
} from '@ts-container/image';
import type { RegistryClient } from './client.js';
import {
  type BlobStore,
  MANIFEST_ACCEPT,
  MAX_ATTEMPTS,
  type ProgressEvent,
  scopeFor,
  short,
  throttledProgress,
} from './distribution.js';
import { RegistryError } from './errors.js';
import { drain, readBody } from './http.js';

export interface PullOptions {
  client: RegistryClient;
  reference: ImageReference;
  store: BlobStore;
  platform?: { os: string; architecture: string; variant?: string };
  maxConcurrentDownloads?: number;
  /**
   * Whether layer `index` is already unpacked locally (the engine checks its chain ID), so its blob
   * need not be downloaded: Docker's `Already exists` is about layers, not blobs.
   */
  layerExists?: (diffIds: string[], index: number) => boolean | Promise<boolean>;
  /**
   * Asked when layer `index` starts downloading from its first byte: a sink returned here gets
   * every byte as it arrives, so the caller can unpack while the layer downloads (Docker
   * downloads first and extracts after).
   */
  layerSink?: (layer: Descriptor, index: number, diffIds: string[]) => LayerSink | undefined;
  onProgress?: (event: ProgressEvent) => void;
}

/** Receives a layer blob's bytes while it downloads (see `PullOptions.layerSink`). */
export interface LayerSink {
  /** The next bytes, in order (a resumed range continues where the last attempt stopped); resolves when the sink can take more. */
  write(chunk: Buffer): Promise<void>;
  /** Every byte arrived and the blob's digest verified. */
  end(): void;
  /** The download failed or had to start over: what the sink got is void. */
  abort(err: Error): void;
}

export interface PullResult {
  manifestDigest: string;
  manifest: Manifest;
  config: ImageConfig;
  configDigest: string;
  layers: Descriptor[];
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
      if (client.lacksBasicCredentials)
        // moby asks with HEAD first; its message names that request. Docker answers it as a
        // plain (500) error: a 401 would make the docker CLI prompt for a Docker Hub login.
        throw new RegistryError(
          'system',
          `Head "${await client.baseUrl()}/v2/${ref.path}/manifests/${target}": no basic auth credentials`,
        );
      const detail = registryErrorText(body);
      // Docker's daemon answers this one 404 (notFoundError in moby), never 401, for the same reason.
      throw new RegistryError(
        'not-found',
        `pull access denied for ${ref.domain}/${ref.path}, repository does not exist or may require 'docker login'${detail ? `: ${detail}` : ''}`,
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

/** `code: message` of a distribution error body (`{"errors":[{"code","message"}]}`), as Docker prints it. */
function registryErrorText(body: Buffer): string | undefined {
  try {
    const first = (JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] })
      .errors?.[0];
    return first?.code ? `${first.code.toLowerCase()}: ${first.message ?? ''}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Pulls an image's config and layers into the store: downloads in parallel (bounded), skips
 * blobs already present, resumes an interrupted download with Range, verifies every digest.
 */
export async function pullImage(options: PullOptions): Promise<PullResult> {
  const { client, reference: ref, store } = options;
  const progress = options.onProgress ?? (() => undefined);
  const { digest: manifestDigest, manifest } = await fetchManifest(client, ref, options.platform);
  // Like moby: announced once the manifest resolved, so a missing image fails before any output.
  progress({ id: ref.digest ?? ref.tag ?? 'latest', status: `Pulling from ${ref.path}` });
  const configDigest = manifest.config.digest;
  if (!(await store.has(configDigest)))
    await downloadBlob(client, ref, store, manifest.config, () => undefined);
  const config = ImageConfigSchema.parse(JSON.parse((await store.read(configDigest)).toString('utf8')));
  const diffIds = config.rootfs.diff_ids;
  const queue = manifest.layers.map((layer, index) => ({ layer, index }));
  for (const { layer } of queue) progress({ id: short(layer.digest), status: 'Pulling fs layer' });
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { layer, index } = next;
      const id = short(layer.digest);
      if (
        (diffIds.length === manifest.layers.length && (await options.layerExists?.(diffIds, index))) ||
        (await store.has(layer.digest))
      ) {
        progress({ id, status: 'Already exists' });
        continue;
      }
      await downloadBlob(
        client,
        ref,
        store,
        layer,
        throttledProgress(layer.size, (current) =>
          progress({ id, status: 'Downloading', progressDetail: { current, total: layer.size } }),
        ),
        options.layerSink && ((layer) => options.layerSink?.(layer, index, diffIds)),
      );
      progress({ id, status: 'Verifying Checksum' });
      progress({ id, status: 'Download complete' });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.maxConcurrentDownloads ?? 3) }, worker));
  return { manifestDigest, manifest, config, configDigest, layers: manifest.layers };
}

/** Downloads in progress per store: two pulls sharing a layer must not append to one ingest. */
const inFlight = new WeakMap<BlobStore, Map<string, Promise<void>>>();

function downloadBlob(
  client: RegistryClient,
  ref: ImageReference,
  store: BlobStore,
  blob: Descriptor,
  onBytes: (current: number) => void,
  sinkFor?: (blob: Descriptor) => LayerSink | undefined,
): Promise<void> {
  let running = inFlight.get(store);
  if (!running) inFlight.set(store, (running = new Map()));
  const existing = running.get(blob.digest);
  if (existing) return existing;
  const download = downloadBlobOnce(client, ref, store, blob, onBytes, sinkFor).finally(() =>
    running.delete(blob.digest),
  );
  running.set(blob.digest, download);
  return download;
}

async function downloadBlobOnce(
  client: RegistryClient,
  ref: ImageReference,
  store: BlobStore,
  blob: Descriptor,
  onBytes: (current: number) => void,
  sinkFor?: (blob: Descriptor) => LayerSink | undefined,
): Promise<void> {
  // Published without waiting for the fsync, as a load's blobs are (verified after a crash;
  // Docker and Podman do not sync pulled layers at all): a 30 MB blob's fsync held up its layer.
  const ingest = () => store.openIngest(`pull-${blob.digest}`, { resume: true, sync: 'later' });
  // The sink sees the blob only when it sees it whole: from byte 0, each retry continuing
  // exactly where the stored part ends.
  let sink: LayerSink | undefined;
  let sinkOffset = 0;
  const dropSink = (err: Error) => {
    sink?.abort(err);
    sink = undefined;
  };
  for (let attempt = 1; ; attempt++) {
    const writer = await ingest();
    let offset = writer.offset;
    if (attempt === 1 && offset === 0) sink = sinkFor?.(blob);
    else if (sink && offset !== sinkOffset) dropSink(new Error('download resumed elsewhere than the sink'));
    const forward = async (chunk: Buffer) => {
      if (!sink) return;
      await sink.write(chunk);
      sinkOffset += chunk.length;
    };
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
          dropSink(new Error('registry ignored the range request'));
          await writer.abort();
          offset = 0;
          const fresh = await store.openIngest(`pull-${blob.digest}`, { resume: false, sync: 'later' });
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
          await forward(chunk as Buffer);
          offset += (chunk as Buffer).length;
          onBytes(offset);
        }
      }
      await commitBlob(writer, blob);
      sink?.end();
      return;
    } catch (err) {
      const retryable = !(err instanceof RegistryError) || err.kind === 'unavailable';
      // A partial download stays in the store's ingest area for a later resume. Closing it
      // can fail only where the download already did; the download's error is the one told.
      await writer.close().catch(() => undefined);
      if (!retryable || attempt >= MAX_ATTEMPTS) {
        dropSink(err as Error);
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

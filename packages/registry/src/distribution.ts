import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { hostPlatform } from '@ts-container/common';
import {
  type Descriptor,
  type ImageConfig,
  ImageConfigSchema,
  type ImageReference,
  IndexSchema,
  type Manifest,
  ManifestSchema,
  MediaType,
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
    /** Keeps what was written for a later resume. */
    close(): Promise<void>;
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
const PROGRESS_INTERVAL_MS = 100;

/**
 * Byte counts as progress events at most every 100 ms, and always the last one: one event per
 * network chunk (a thousand per layer) cost the daemon as much CPU as hashing the layer.
 */
function throttledProgress(total: number, report: (current: number) => void): (current: number) => void {
  let last = 0;
  return (current) => {
    const now = performance.now();
    if (current < total && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    report(current);
  };
}

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
  const ingest = () => store.openIngest(`pull-${blob.digest}`, { resume: true });
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

export interface PushOptions {
  client: RegistryClient;
  reference: ImageReference;
  store: BlobStore;
  /** Config first or not, every blob the manifest references. */
  blobs: Descriptor[];
  manifest: Buffer;
  manifestMediaType: string;
  /**
   * Other repositories of the same registry that may hold these blobs: the registry is asked to
   * mount them (`POST …/blobs/uploads/?mount=…&from=…`) instead of receiving the bytes again.
   */
  mountFrom?: string[];
  /** Upload in `PATCH` chunks of this many bytes; by default one streamed `PATCH` per blob, as Docker does. */
  chunkSize?: number;
  onProgress?: (event: ProgressEvent) => void;
}

/** Uploads the blobs the registry lacks, then the manifest; returns the manifest digest. */
export async function pushImage(options: PushOptions): Promise<{ digest: string; size: number }> {
  const { client, reference: ref } = options;
  const report = options.onProgress ?? (() => undefined);
  const scope = scopeFor(ref, 'pull,push');
  // Docker's progress shows layers only; the config goes up without a line of its own.
  const isConfig = (blob: Descriptor) => /config|container\.image/.test(blob.mediaType);
  for (const blob of options.blobs)
    if (!isConfig(blob)) report({ id: short(blob.digest), status: 'Preparing' });
  for (const blob of options.blobs) {
    const id = short(blob.digest);
    const progress = isConfig(blob) ? () => undefined : report;
    const head = await client.request(`/v2/${ref.path}/blobs/${blob.digest}`, { method: 'HEAD', scope });
    drain(head);
    if (head.status === 200) {
      progress({ id, status: 'Layer already exists' });
      continue;
    }
    if (head.status === 401 || head.status === 403) throw denied();
    await uploadBlob(
      options,
      blob,
      throttledProgress(blob.size, (current) =>
        progress({ id, status: 'Pushing', progressDetail: { current, total: blob.size } }),
      ),
    ).then((how) => progress({ id, status: how === 'pushed' ? 'Pushed' : `Mounted from ${how}` }));
  }
  const tag = ref.digest ?? ref.tag ?? 'latest';
  const res = await client.request(`/v2/${ref.path}/manifests/${tag}`, {
    method: 'PUT',
    scope,
    headers: { 'Content-Type': options.manifestMediaType, 'Content-Length': String(options.manifest.length) },
    body: options.manifest,
  });
  const body = await readBody(res);
  if (res.status === 401 || res.status === 403) throw denied();
  if (res.status !== 201)
    throw new RegistryError(
      'system',
      `pushing the manifest: registry answered ${res.status}: ${body.toString('utf8').slice(0, 300)}`,
    );
  const digest = `sha256:${createHash('sha256').update(options.manifest).digest('hex')}`;
  report({ status: `${tag}: digest: ${digest} size: ${options.manifest.length}` });
  return { digest, size: options.manifest.length };
}

/** Docker's message when a push is not allowed. */
function denied(): RegistryError {
  return new RegistryError('unauthorized', 'denied: requested access to the resource is denied');
}

/**
 * Distribution spec upload: `POST` (or a cross-repository mount), then `PATCH` the bytes (one
 * streamed request or fixed-size chunks with `Content-Range`), then `PUT ?digest=` to close it.
 * Returns the source repository when the registry mounted the blob instead.
 */
async function uploadBlob(
  options: PushOptions,
  blob: Descriptor,
  onBytes: (current: number) => void,
): Promise<string | 'pushed'> {
  const { client, reference: ref, store } = options;
  let location: URL | undefined;
  for (const from of options.mountFrom ?? []) {
    if (from === ref.path) continue;
    const query = `mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(from)}`;
    const res = await client.request(`/v2/${ref.path}/blobs/uploads/?${query}`, {
      method: 'POST',
      scope: `${scopeFor(ref, 'pull,push')} repository:${from}:pull`,
      headers: { 'Content-Length': '0' },
    });
    drain(res);
    if (res.status === 201) return from;
    // 202: the registry could not mount and opened an ordinary upload session instead.
    if (res.status === 202) {
      location = await uploadLocation(client, res.headers.location);
      break;
    }
  }
  const scope = scopeFor(ref, 'pull,push');
  if (!location) {
    const start = await client.request(`/v2/${ref.path}/blobs/uploads/`, {
      method: 'POST',
      scope,
      headers: { 'Content-Length': '0' },
    });
    drain(start);
    if (start.status === 401 || start.status === 403) throw denied();
    if (start.status !== 202)
      throw new RegistryError(
        'system',
        `starting the upload of ${blob.digest}: registry answered ${start.status}`,
      );
    location = await uploadLocation(client, start.headers.location);
  }
  let url: URL = location;
  onBytes(0);
  let sent = 0;
  const patch = async (body: Buffer | (() => Readable), length: number) => {
    const res = await client.request(url.toString(), {
      method: 'PATCH',
      scope,
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(length),
        ...(length > 0 ? { 'Content-Range': `${sent}-${sent + length - 1}` } : {}),
      },
      body,
    });
    const text = await readBody(res);
    if (res.status !== 202)
      throw new RegistryError(
        'system',
        `uploading ${blob.digest}: registry answered ${res.status}: ${text.toString('utf8').slice(0, 200)}`,
      );
    sent += length;
    onBytes(sent);
    url = await uploadLocation(client, res.headers.location ?? url.toString());
  };
  if (options.chunkSize === undefined) {
    await patch(() => {
      const stream = store.createReadStream(blob.digest);
      let current = 0;
      stream.on('data', (c: Buffer) => {
        current += c.length;
        onBytes(current);
      });
      return stream;
    }, blob.size);
  } else {
    // Chunks are buffered (bounded by chunkSize) so a retried request can resend them.
    let pending: Buffer[] = [];
    let pendingSize = 0;
    for await (const chunk of store.createReadStream(blob.digest)) {
      let c = chunk as Buffer;
      while (c.length > 0) {
        const take = Math.min(c.length, options.chunkSize - pendingSize);
        pending.push(c.subarray(0, take));
        pendingSize += take;
        c = c.subarray(take);
        if (pendingSize === options.chunkSize) {
          await patch(Buffer.concat(pending), pendingSize);
          pending = [];
          pendingSize = 0;
        }
      }
    }
    if (pendingSize > 0 || sent === 0) await patch(Buffer.concat(pending), pendingSize);
  }
  url.searchParams.set('digest', blob.digest);
  const put = await client.request(url.toString(), {
    method: 'PUT',
    scope,
    headers: { 'Content-Length': '0' },
  });
  const body = await readBody(put);
  if (put.status !== 201)
    throw new RegistryError(
      'system',
      `uploading ${blob.digest}: registry answered ${put.status}: ${body.toString('utf8').slice(0, 200)}`,
    );
  return 'pushed';
}

/** Upload locations may be relative to the registry (distribution spec). */
async function uploadLocation(client: RegistryClient, header: string | undefined): Promise<URL> {
  if (!header) throw new RegistryError('system', 'the registry opened an upload without a Location');
  return new URL(header, await client.baseUrl());
}

/** `GET /v2/NAME/tags/list`, following `Link` pagination. */
export async function listTags(client: RegistryClient, repository: string): Promise<string[]> {
  const tags: string[] = [];
  let next: string | undefined = `/v2/${repository}/tags/list?n=1000`;
  while (next) {
    const res = await client.request(next, { scope: `repository:${repository}:pull` });
    const body = await readBody(res);
    if (res.status === 404) throw new RegistryError('not-found', `repository ${repository} not found`);
    if (res.status === 401 || res.status === 403)
      throw new RegistryError(
        'unauthorized',
        `pull access denied for ${repository}, repository does not exist or may require 'docker login'`,
      );
    if (res.status >= 400)
      throw new RegistryError('system', `listing tags of ${repository}: registry answered ${res.status}`);
    tags.push(...((JSON.parse(body.toString('utf8')) as { tags?: string[] | null }).tags ?? []));
    const link = /<([^>]+)>;\s*rel="?next"?/.exec(String(res.headers.link ?? ''));
    next = link?.[1];
  }
  return tags;
}

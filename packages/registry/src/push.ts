import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Descriptor, ImageReference } from '@ts-container/image';
import type { RegistryClient } from './client.js';
import { type BlobStore, type ProgressEvent, scopeFor, short, throttledProgress } from './distribution.js';
import { RegistryError } from './errors.js';
import { drain, readBody } from './http.js';

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
  /** Layers uploaded at once (Docker's `max-concurrent-uploads`, 5 by default). */
  maxConcurrentUploads?: number;
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
  const pushOne = async (blob: Descriptor) => {
    const id = short(blob.digest);
    const progress = isConfig(blob) ? () => undefined : report;
    const head = await client.request(`/v2/${ref.path}/blobs/${blob.digest}`, { method: 'HEAD', scope });
    drain(head);
    if (head.status === 200) {
      progress({ id, status: 'Layer already exists' });
      return;
    }
    if (head.status === 401 || head.status === 403) throw denied();
    const how = await uploadBlob(
      options,
      blob,
      throttledProgress(blob.size, (current) =>
        progress({ id, status: 'Pushing', progressDetail: { current, total: blob.size } }),
      ),
    );
    progress({ id, status: how === 'pushed' ? 'Pushed' : `Mounted from ${how}` });
  };
  // Layers go up side by side (Docker's max-concurrent-uploads, 5 by default), each digest once;
  // the config follows them, the manifest last.
  const unique = options.blobs.filter((b, i, all) => all.findIndex((o) => o.digest === b.digest) === i);
  const queue = unique.filter((b) => !isConfig(b));
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) await pushOne(next);
  };
  const workers = Math.min(queue.length, Math.max(1, options.maxConcurrentUploads ?? 5));
  await Promise.all(Array.from({ length: workers }, worker));
  for (const blob of unique.filter(isConfig)) await pushOne(blob);
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

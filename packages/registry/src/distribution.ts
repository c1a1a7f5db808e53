import type { Readable } from 'node:stream';
import { type ImageReference, MediaType } from '@ts-container/image';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import { readBody } from './http.js';

/** What pull and push need of a content store (the image package's ContentStore has it). */
export interface BlobStore {
  has(digest: string): Promise<boolean>;
  read(digest: string): Promise<Buffer>;
  put(data: Buffer | string): Promise<{ digest: string; size: number }>;
  createReadStream(digest: string): Readable;
  /**
   * `sync: 'later'`: `commit` publishes the blob before its bytes are synced (the store syncs
   * them in the background and verifies such blobs after a crash).
   */
  openIngest(
    ref: string,
    options?: { resume?: boolean; sync?: 'now' | 'later' },
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

export const MANIFEST_ACCEPT = [
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.OciIndex,
].join(', ');
export const MAX_ATTEMPTS = 5;
const PROGRESS_INTERVAL_MS = 100;

/**
 * Byte counts as progress events at most every 100 ms, and always the last one: one event per
 * network chunk (a thousand per layer) cost the daemon as much CPU as hashing the layer.
 */
export function throttledProgress(
  total: number,
  report: (current: number) => void,
): (current: number) => void {
  let last = 0;
  return (current) => {
    const now = performance.now();
    if (current < total && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    report(current);
  };
}

/** A digest's first 12 hex digits, as Docker's progress lines name layers. */
export const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

/** The token scope a request about `ref` needs (`pull`, `pull,push`). */
export function scopeFor(ref: ImageReference, actions: string): string {
  return `repository:${ref.path}:${actions}`;
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

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { type Logger, type Platform, parsePlatform } from '@ts-container/common';
import {
  type ContentStore,
  type Descriptor,
  type ImageReference,
  type ImageStore,
  MediaType,
  chainIds,
  familiarName,
  formatReference,
  gzipFileParallel,
  parseReference,
} from '@ts-container/image';
import {
  type Credentials,
  type ProgressEvent,
  RegistryClient,
  RegistryError,
  type SearchResult,
  fetchManifest,
  listTags,
  pullImage,
  pushImage,
  searchRepositories,
} from '@ts-container/registry';
import { notFound } from './errors.js';
import type { ImageService } from './images.js';
import { StreamedLayers } from './streamed-layers.js';

export interface RegistrySettings {
  /** Tried first, in order, for Docker Hub images (`registry-mirrors`). */
  mirrors: string[];
  /** Registries reached over plain HTTP or unverified TLS (`insecure-registries`). */
  insecureRegistries: string[];
  maxConcurrentDownloads: number;
  /**
   * Directories laid out like Docker's `/etc/docker/certs.d`: `<dir>/<host:port>/*.crt` are CA
   * certificates trusted for that registry (besides the system's).
   */
  certsDirs?: string[];
  logger?: Logger;
}

/** Where Docker users already keep registry CAs, and ours. */
export const DEFAULT_CERTS_DIRS = ['/etc/tsctr/certs.d', '/etc/docker/certs.d'];

/** What `certs.d`-style directories hold for one registry host. */
export interface RegistryTlsFiles {
  /** `*.crt`: CA certificates trusted for this registry (besides the system's). */
  cas: Buffer[];
  /** `<name>.cert` with `<name>.key`: the client certificate for mutual TLS (the first by name). */
  clientCertificate?: { cert: Buffer; key: Buffer };
}

/**
 * Reads `<dir>/<host:port>/` as Docker does: `*.crt` are CAs, `*.cert` + `*.key` of the same
 * name are a client certificate and its key. A certificate without its key (or a key without
 * its certificate) is an error with Docker's words, rather than a TLS failure later.
 */
export function registryTls(host: string, dirs: readonly string[]): RegistryTlsFiles {
  const files: RegistryTlsFiles = { cas: [] };
  for (const dir of dirs) {
    const hostDir = join(dir, host);
    if (!existsSync(hostDir)) continue;
    const names = readdirSync(hostDir).sort();
    for (const name of names) {
      if (name.endsWith('.crt')) files.cas.push(readFileSync(join(hostDir, name)));
      else if (name.endsWith('.cert')) {
        const keyName = `${name.slice(0, -'.cert'.length)}.key`;
        if (!names.includes(keyName))
          throw new RegistryError(
            'invalid-parameter',
            `missing key ${keyName} for client certificate ${name}. CA certificates must use the extension .crt`,
          );
        files.clientCertificate ??= {
          cert: readFileSync(join(hostDir, name)),
          key: readFileSync(join(hostDir, keyName)),
        };
      } else if (name.endsWith('.key') && !names.includes(`${name.slice(0, -'.key'.length)}.cert`)) {
        throw new RegistryError(
          'invalid-parameter',
          `missing client certificate ${name.slice(0, -'.key'.length)}.cert for key ${name}`,
        );
      }
    }
  }
  return files;
}

export type ProgressSink = (event: ProgressEvent & { progress?: string }) => void;

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

/** Pull, push and login: the registry client wired to the image store and snapshotter. */
export class RegistryService {
  constructor(
    private readonly images: ImageService,
    private readonly content: ContentStore,
    private readonly store: ImageStore,
    private readonly settings: RegistrySettings,
  ) {}

  private client(domain: string, credentials?: Credentials): RegistryClient {
    // A mirror configured with an http:// URL is meant to be reached over plain HTTP.
    const plainMirrors = this.settings.mirrors
      .filter((m) => m.startsWith('http://'))
      .map((m) => new URL(m).host);
    // Read at each use (a few small files), so a CA dropped into certs.d needs no restart.
    const tls = registryTls(domain, this.settings.certsDirs ?? DEFAULT_CERTS_DIRS);
    return new RegistryClient(domain, {
      insecureRegistries: [...this.settings.insecureRegistries, ...plainMirrors],
      ...(credentials ? { credentials } : {}),
      ...(tls.cas.length > 0 ? { ca: [...rootCertificates.map((c) => Buffer.from(c)), ...tls.cas] } : {}),
      ...(tls.clientCertificate ? { clientCertificate: tls.clientCertificate } : {}),
    });
  }

  /** `docker pull`: returns the image ID; progress follows Docker's JSON messages. */
  async pull(
    reference: string,
    options: { credentials?: Credentials; onProgress?: ProgressSink; platform?: string } = {},
  ): Promise<string> {
    const ref = parseReference(reference);
    const platform = options.platform ? parsePlatform(options.platform) : undefined;
    const progress = options.onProgress ?? (() => undefined);
    // Docker Hub images try each mirror first and fall back to the registry itself.
    const sources =
      ref.domain === 'docker.io'
        ? [
            ...this.settings.mirrors.map((m) => new URL(m.includes('://') ? m : `https://${m}`).host),
            ref.domain,
          ]
        : [ref.domain];
    let lastError: unknown;
    for (const domain of sources) {
      try {
        return await this.pullFrom(domain, ref, options.credentials, progress, platform);
      } catch (err) {
        lastError = err;
        if (domain === ref.domain || (err instanceof RegistryError && err.kind === 'invalid-parameter'))
          break;
      }
    }
    throw lastError;
  }

  /**
   * `docker pull --all-tags` (the API's `fromImage` without a tag): every tag the registry lists,
   * one after the other; returns the image IDs.
   */
  async pullAllTags(
    repository: string,
    options: { credentials?: Credentials; onProgress?: ProgressSink; platform?: string } = {},
  ): Promise<string[]> {
    const ref = parseReference(repository);
    if (ref.digest !== undefined)
      throw new RegistryError('invalid-parameter', 'tag can only be used with --all-tags/-a');
    const tags = await listTags(this.client(ref.domain, options.credentials), ref.path);
    const ids: string[] = [];
    for (const tag of tags) ids.push(await this.pull(`${ref.domain}/${ref.path}:${tag}`, options));
    return ids;
  }

  private async pullFrom(
    domain: string,
    ref: ImageReference,
    credentials: Credentials | undefined,
    progress: ProgressSink,
    platform: Platform | undefined,
  ): Promise<string> {
    const client = this.client(domain, domain === ref.domain ? credentials : undefined);
    const existing = this.store.lookup(formatReference(ref));
    const present = new Set<string>();
    // Only where a layer can be unpacked before the one below it (overlay).
    const streamed = this.images.snapshotter.unpacksLayersIndependently
      ? new StreamedLayers(this.images.snapshotter)
      : undefined;
    const pulling = pullImage({
      client,
      reference: ref,
      store: this.content,
      maxConcurrentDownloads: this.settings.maxConcurrentDownloads,
      layerExists: (diffIds, index) => this.images.snapshotter.has(chainIds(diffIds)[index]!),
      ...(streamed ? { layerSink: (_layer, index, diffIds) => streamed.sinkFor(index, diffIds) } : {}),
      ...(platform ? { platform } : {}),
      onProgress: (e) => {
        if (e.status === 'Already exists' && e.id) present.add(e.id);
        progress(
          e.progressDetail
            ? { ...e, progress: progressBar(e.progressDetail.current, e.progressDetail.total) }
            : e,
        );
      },
    });
    // A failed pull returns once the layers it was unpacking stopped.
    const result = await pulling.catch(async (err: unknown) => {
      await streamed?.settle();
      throw err;
    });
    const diffIds = result.config.rootfs.diff_ids;
    if (diffIds.length !== result.layers.length)
      throw new RegistryError(
        'invalid-parameter',
        'image config and manifest disagree on the number of layers',
      );
    const blobOf = new Map(diffIds.map((d, i) => [d, result.layers[i]!.digest]));
    if (streamed) {
      await streamed.settle();
      for (const reason of streamed.fallbacks)
        this.settings.logger?.warn(
          `pull ${formatReference(ref)}: ${reason}; unpacking it again from the downloaded blob`,
        );
    }
    await this.images.ensureLayers(diffIds, (d) => blobOf.get(d)!);
    for (const layer of result.layers)
      if (!present.has(short(layer.digest))) progress({ id: short(layer.digest), status: 'Pull complete' });
    const id = await this.store.create(result.config, {
      layers: result.layers,
      rawConfig: await this.content.read(result.configDigest),
    });
    const repoDigest = `${ref.domain}/${ref.path}@${result.manifestDigest}`;
    await this.store.update(id, (r) => {
      if (!r.repoDigests.includes(repoDigest)) r.repoDigests.push(repoDigest);
    });
    if (ref.tag !== undefined)
      await this.store.tag(id, formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag }));
    progress({ status: `Digest: ${result.manifestDigest}` });
    const name = familiarName(ref);
    progress({
      status:
        existing === id
          ? `Status: Image is up to date for ${name}`
          : `Status: Downloaded newer image for ${name}`,
    });
    return id;
  }

  /** `docker push`: layers gzip-compressed once and remembered, then config and manifest. */
  async push(
    reference: string,
    options: { credentials?: Credentials; onProgress?: ProgressSink } = {},
  ): Promise<{ digest: string; size: number; tag: string }> {
    const ref = parseReference(reference);
    const id = this.store.lookup(formatReference(ref));
    if (id === undefined)
      throw notFound(
        `An image does not exist locally with the tag: ${familiarName({ domain: ref.domain, path: ref.path })}`,
      );
    const image = await this.store.get(id);
    const layers: Descriptor[] = [];
    const diffIds = image.config.rootfs.diff_ids;
    const known = image.record.layers ?? [];
    // Like Docker's distribution metadata: other images sharing a layer know its compressed blob and
    // the repositories holding it, so a shared layer is neither recompressed nor uploaded again.
    const shared = await this.compressedLayers(ref.domain);
    const mountFrom = new Set<string>();
    for (let i = 0; i < diffIds.length; i++) {
      const recorded = known[i];
      if (recorded && recorded.digest !== diffIds[i] && (await this.content.has(recorded.digest))) {
        layers.push(recorded);
        for (const repo of shared.get(diffIds[i]!)?.repositories ?? []) mountFrom.add(repo);
        continue;
      }
      const other = shared.get(diffIds[i]!);
      if (other && (await this.content.has(other.descriptor.digest))) {
        layers.push(other.descriptor);
        for (const repo of other.repositories) mountFrom.add(repo);
        continue;
      }
      // Stored uncompressed (imported or committed): compressed once for the registry, in
      // blocks on every core, and remembered in the image record below.
      const gz = await this.content.ingestStream(
        gzipFileParallel(this.content.path(diffIds[i]!)),
        `gzip-${diffIds[i]}`,
      );
      layers.push({ mediaType: MediaType.DockerLayerGzip, digest: gz.digest, size: gz.size });
    }
    await this.store.update(id, (r) => {
      r.layers = layers;
    });
    const configBlob = await this.content.read(id);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: { mediaType: MediaType.DockerConfig, digest: id, size: configBlob.length },
        layers,
      }),
    );
    const progress = options.onProgress ?? (() => undefined);
    progress({ status: `The push refers to repository [${ref.domain}/${ref.path}]` });
    const result = await pushImage({
      client: this.client(ref.domain, options.credentials),
      reference: ref,
      store: this.content,
      blobs: [...layers]
        .reverse()
        .concat([{ mediaType: MediaType.DockerConfig, digest: id, size: configBlob.length }]),
      manifest,
      manifestMediaType: MediaType.DockerManifest,
      // Repositories of the same registry this image came from or went to already hold its blobs.
      mountFrom: [
        ...image.record.repoDigests
          .map((d) => parseReference(d))
          .filter((r) => r.domain === ref.domain)
          .map((r) => r.path),
        ...mountFrom,
      ].filter((path, i, all) => path !== ref.path && all.indexOf(path) === i),
      onProgress: progress,
    });
    const repoDigest = `${ref.domain}/${ref.path}@${result.digest}`;
    await this.store.update(id, (r) => {
      if (!r.repoDigests.includes(repoDigest)) r.repoDigests.push(repoDigest);
    });
    return { ...result, tag: ref.tag ?? 'latest' };
  }

  /** DiffID → the compressed blob some image records for it, and its repositories in `domain`. */
  private async compressedLayers(
    domain: string,
  ): Promise<Map<string, { descriptor: Descriptor; repositories: string[] }>> {
    const map = new Map<string, { descriptor: Descriptor; repositories: string[] }>();
    for (const image of await this.store.list()) {
      const layers = image.record.layers ?? [];
      const repositories = image.record.repoDigests
        .map((d) => parseReference(d))
        .filter((r) => r.domain === domain)
        .map((r) => r.path);
      image.config.rootfs.diff_ids.forEach((diffId, i) => {
        const layer = layers[i];
        if (!layer || layer.digest === diffId) return;
        const entry = map.get(diffId) ?? { descriptor: layer, repositories: [] };
        entry.repositories.push(...repositories);
        map.set(diffId, entry);
      });
    }
    return map;
  }

  /** `docker login`: checks the credentials against the registry. */
  async login(serverAddress: string, credentials: Credentials): Promise<void> {
    const host =
      serverAddress === '' || /index\.docker\.io/.test(serverAddress)
        ? 'docker.io'
        : serverAddress.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    await this.client(host, credentials).ping();
  }

  /**
   * `docker search TERM`: a term naming a registry (`host:port/name`, `localhost/name`) asks
   * that registry's index, any other Docker Hub's.
   */
  async search(
    term: string,
    options: { limit?: number; credentials?: Credentials } = {},
  ): Promise<SearchResult[]> {
    const slash = term.indexOf('/');
    const first = slash < 0 ? '' : term.slice(0, slash);
    const namesRegistry =
      first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
    const domain = namesRegistry ? first : 'docker.io';
    const query = namesRegistry ? term.slice(slash + 1) : term;
    return searchRepositories(this.client(domain, options.credentials), query, options.limit ?? 25);
  }

  /** The manifest digest a reference resolves to in its registry (for `--pull=always` checks). */
  async remoteDigest(reference: string, credentials?: Credentials): Promise<string> {
    const ref = parseReference(reference);
    return (await fetchManifest(this.client(ref.domain, credentials), ref)).digest;
  }
}

/** Docker's `[=====>     ]  1.2MB/3.4MB` progress text. */
function progressBar(current: number, total: number): string {
  const width = 50;
  const done = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  const bar = `${'='.repeat(Math.max(0, done - 1))}${done > 0 ? '>' : ''}${' '.repeat(width - done)}`;
  const size = (n: number) =>
    n >= 1e6 ? `${(n / 1e6).toFixed(2)}MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}kB` : `${n}B`;
  return `[${bar}] ${size(current)}/${size(total)}`;
}

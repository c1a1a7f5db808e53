import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { ContainerCreateRequest, HostConfig } from '@ts-container/api';
import {
  type BaseImage,
  type BuildBackend,
  BuildContext,
  BuildError,
  type BuildOptions,
  type BuildResult,
  type CommitStep,
  type CopySource,
  type CopyStep,
  type ProgressListener,
  type RunResult,
  type RunStep,
  type StepResult,
  build,
} from '@ts-container/builder';
import { hostPlatform } from '@ts-container/common';
import {
  type ImageConfig,
  NoSuchImageError,
  type StoredImage,
  extractArchive,
  writeFileAtomic,
} from '@ts-container/image';
import { mountAll, unmount } from '@ts-container/unionfs';
import { z } from 'zod';
import {
  type Ownership,
  copyIntoRoot,
  globInRoot,
  isArchive,
  isDirectoryInRoot,
  mkdirInRoot,
  readFileInRoot,
  resolveInRoot,
} from './build-fs.js';
import { fetchRemoteContext } from './build-remote.js';
import type { Engine } from './engine.js';
import { EngineError, errorKind, notFound } from './errors.js';
import type { ProgressSink } from './registry.js';
import { resolveUser } from './user.js';

/**
 * The engine side of `docker build`: a {@link BuildBackend} that runs RUN steps in real
 * containers and commits them, writes COPY/ADD layers into a snapshot, commits metadata-only
 * images, and remembers each step's cache key in `<data-root>/build-cache.json`.
 */

export interface EngineBuildOptions {
  /** Remove intermediate containers after a successful step (`--rm`, default true). */
  removeIntermediate?: boolean;
  /** Remove intermediate containers even when the step fails (`--force-rm`). */
  forceRemove?: boolean;
  /** Pull base images even when they are present (`--pull`). */
  pull?: boolean;
  /** Pull progress of base images, in Docker's JSON message shape. */
  onPullProgress?: ProgressSink;
  /**
   * Host settings of every RUN container: `networkmode`, `extrahosts`, `shmsize` and the
   * resource limits of `POST /build`. `RUN --network=…` overrides the network.
   */
  runHostConfig?: HostConfig;
  /**
   * `--cache-from`: when given, only these images (and the images they were built from) may
   * serve as cache, as in Docker's classic builder; a name that does not exist adds nothing.
   */
  cacheFrom?: readonly string[];
}

const CacheIndexSchema = z.object({
  version: z.literal(1),
  entries: z.array(z.object({ parent: z.string().nullable(), key: z.string(), image: z.string() })),
});
type CacheIndex = z.infer<typeof CacheIndexSchema>;

/** Cache keys of built images: which image a step with this key on this parent produced. */
export class BuildCache {
  private index: Map<string, string> | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  private static id(parent: string | null, key: string): string {
    return `${parent ?? 'scratch'}\0${key}`;
  }

  private async load(): Promise<Map<string, string>> {
    if (this.index) return this.index;
    const index = new Map<string, string>();
    const raw = await readFile(this.path, 'utf8').catch(() => undefined);
    if (raw !== undefined) {
      // A damaged index only costs cache hits: start afresh rather than fail builds.
      const parsed = CacheIndexSchema.safeParse(
        (() => {
          try {
            return JSON.parse(raw) as unknown;
          } catch {
            return undefined;
          }
        })(),
      );
      if (parsed.success)
        for (const e of parsed.data.entries) index.set(BuildCache.id(e.parent, e.key), e.image);
    }
    this.index = index;
    return index;
  }

  async get(parent: string | null, key: string): Promise<string | undefined> {
    return (await this.load()).get(BuildCache.id(parent, key));
  }

  async set(parent: string | null, key: string, image: string): Promise<void> {
    (await this.load()).set(BuildCache.id(parent, key), image);
    await this.save();
  }

  /** Drops entries whose image no longer exists (or all of them); returns how many went. */
  async prune(keep: (image: string) => boolean = () => false): Promise<number> {
    const index = await this.load();
    let removed = 0;
    for (const [id, image] of index) {
      if (keep(image)) continue;
      index.delete(id);
      removed++;
    }
    await this.save();
    return removed;
  }

  private save(): Promise<void> {
    const next = this.writing.then(async () => {
      const entries: CacheIndex['entries'] = [];
      for (const [id, image] of this.index ?? []) {
        const [parent = '', key = ''] = id.split('\0');
        entries.push({ parent: parent === 'scratch' ? null : parent, key, image });
      }
      await writeFileAtomic(this.path, JSON.stringify({ version: 1, entries } satisfies CacheIndex));
    });
    this.writing = next.catch(() => undefined);
    return next;
  }
}

const caches = new WeakMap<Engine, BuildCache>();

/** The engine's build cache index (one per engine, so concurrent builds share it). */
export function buildCacheOf(engine: Engine): BuildCache {
  let cache = caches.get(engine);
  if (!cache) {
    cache = new BuildCache(join(engine.options.dataRoot, 'build-cache.json'));
    caches.set(engine, cache);
  }
  return cache;
}

const EMPTY_LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar';

export class EngineBuildBackend implements BuildBackend {
  private readonly cache: BuildCache;
  /** With `cacheFrom`: the images a cache hit may be, else undefined (any image). */
  private cacheSources: Promise<Set<string>> | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly options: EngineBuildOptions = {},
  ) {
    this.cache = buildCacheOf(engine);
  }

  async resolveImage(ref: string, _options: { platform?: string }): Promise<BaseImage> {
    let id = this.options.pull ? undefined : this.engine.imageStore.lookup(ref);
    if (id === undefined) {
      try {
        id = await this.engine.registry.pull(ref, {
          ...(this.options.onPullProgress ? { onProgress: this.options.onPullProgress } : {}),
        });
      } catch (err) {
        const local = this.options.pull ? undefined : this.engine.imageStore.lookup(ref);
        if (local !== undefined) id = local;
        else if (err instanceof EngineError || err instanceof NoSuchImageError) throw err;
        else {
          throw new EngineError(
            errorKind(err) === 'not-found' ? 'not-found' : 'system',
            `pull access denied for ${ref}, repository does not exist or may require 'docker login': ${(err as Error).message}`,
            { cause: err },
          );
        }
      }
    }
    const image = await this.engine.imageStore.get(id);
    return { imageId: id, config: image.config.config ?? {} };
  }

  async lookupCache(parentImageId: string | null, cacheKey: string): Promise<string | undefined> {
    const id = await this.cache.get(parentImageId, cacheKey);
    if (id === undefined || !this.engine.imageStore.has(id)) return undefined;
    if (this.options.cacheFrom === undefined || this.options.cacheFrom.length === 0) return id;
    this.cacheSources ??= this.cacheFromImages(this.options.cacheFrom);
    return (await this.cacheSources).has(id) ? id : undefined;
  }

  /** The `cacheFrom` images and their ancestors (Docker accepts a hit that is a parent of a source). */
  private async cacheFromImages(refs: readonly string[]): Promise<Set<string>> {
    const store = this.engine.imageStore;
    const out = new Set<string>();
    for (const ref of refs) {
      let id: string | undefined;
      try {
        id = store.lookup(ref);
      } catch (err) {
        // An unparsable or ambiguous name is a source that does not exist, as Docker skips it.
        if (!(err instanceof Error)) throw err;
      }
      while (id !== undefined && !out.has(id) && store.has(id)) {
        out.add(id);
        id = (await store.get(id)).record.parent;
      }
    }
    return out;
  }

  async tag(imageId: string, reference: string): Promise<void> {
    await this.engine.imageStore.tag(imageId, reference);
  }

  async commit(step: CommitStep): Promise<StepResult> {
    const parent =
      step.parentImageId === null ? undefined : await this.engine.imageStore.get(step.parentImageId);
    const config = imageConfigFor(parent, step);
    const id = await this.engine.imageStore.create(config, {
      ...(parent ? { parent: parent.record.id } : {}),
      ...(parent?.record.layers && parent.record.layers.length === parent.config.rootfs.diff_ids.length
        ? { layers: parent.record.layers }
        : {}),
    });
    await this.cache.set(step.parentImageId, step.cacheKey, id);
    return { imageId: id };
  }

  async run(step: RunStep): Promise<RunResult> {
    if (step.parentImageId === null) {
      throw new BuildError(
        `The command '${step.argv.join(' ')}' cannot run: the image has no filesystem yet (FROM scratch)`,
        127,
      );
    }
    const containers = this.engine.containers;
    const hostConfig: HostConfig = { ...this.options.runHostConfig };
    // `RUN --network=default` keeps the build's network.
    if (step.network === 'none' || step.network === 'host') hostConfig.NetworkMode = step.network;
    const request: ContainerCreateRequest = {
      Image: step.parentImageId,
      Cmd: step.argv,
      Entrypoint: [],
      Env: step.env,
      User: step.user,
      WorkingDir: step.workingDir,
      Labels: {},
      // A build step is not a service: the image's health check does not run during RUN.
      Healthcheck: { Test: ['NONE'] },
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: hostConfig,
    };
    const { Id: id } = await containers.create(request);
    step.onStarted?.(id);
    let succeeded = false;
    try {
      const output = (async () => {
        for await (const r of containers.attach(id, { stdout: true, stderr: true, logs: true, stream: true }))
          step.onOutput(r.text, r.stream);
      })();
      const exited = containers.wait(id, 'next-exit');
      try {
        await containers.start(id);
      } catch (err) {
        void output.catch(() => undefined);
        void exited.catch(() => undefined);
        throw err;
      }
      const { StatusCode } = await exited;
      await output;
      if (StatusCode !== 0)
        return {
          exitCode: StatusCode,
          containerId: id,
          ...(this.options.forceRemove === true ? { containerRemoved: true } : {}),
        };
      const imageId = await this.engine.commitContainer(id, {
        config: step.config,
        history: step.history,
        pause: false,
        ...(step.author !== undefined ? { author: step.author } : {}),
      });
      await this.cache.set(step.parentImageId, step.cacheKey, imageId);
      succeeded = true;
      const containerRemoved = this.options.removeIntermediate !== false;
      return { exitCode: 0, imageId, containerId: id, ...(containerRemoved ? { containerRemoved } : {}) };
    } finally {
      const remove = succeeded
        ? this.options.removeIntermediate !== false
        : this.options.forceRemove === true;
      if (remove) await containers.remove(id, { force: true }).catch(() => undefined);
    }
  }

  async copy(step: CopyStep): Promise<StepResult> {
    const engine = this.engine;
    const parent = step.parentImageId === null ? undefined : await engine.imageStore.get(step.parentImageId);
    const key = `build-${randomBytes(16).toString('hex')}`;
    const work = await mkdtemp(join(engine.options.execRoot, 'build-'));
    const root = join(work, 'rootfs');
    const views: string[] = [];
    const mounted: string[] = [];
    try {
      if (parent) await engine.images.ensureLayers(parent.config.rootfs.diff_ids);
      // Labelled like a container's snapshot so start-up repair removes it after a crash.
      await engine.snapshotter.prepare(key, parent ? engine.images.topLayer(parent.config) : undefined, {
        'tsctr.container': key,
      });
      await mkdir(root);
      await mountAll(await engine.snapshotter.mounts(key), root);
      mounted.push(root);

      const owner = step.chown === undefined ? { uid: 0, gid: 0 } : await chownOf(root, step.chown);
      const modeOpt = step.chmod !== undefined ? { mode: step.chmod } : {};
      const intoDir = step.dest.endsWith('/') || (await isDirectoryInRoot(root, step.dest));
      const destFor = (name: string) => (intoDir ? posix.join(step.dest, name) : step.dest);

      const imageRoots = new Map<string, string>();
      const imageRoot = async (imageId: string): Promise<string> => {
        let dir = imageRoots.get(imageId);
        if (dir) return dir;
        const image = await engine.imageStore.get(imageId);
        await engine.images.ensureLayers(image.config.rootfs.diff_ids);
        dir = join(work, `from-${imageRoots.size}`);
        await mkdir(dir);
        const top = engine.images.topLayer(image.config);
        if (top !== undefined) {
          const viewKey = `${key}-from-${imageRoots.size}`;
          await engine.snapshotter.view(viewKey, top, { 'tsctr.container': viewKey });
          views.push(viewKey);
          await mountAll(await engine.snapshotter.mounts(viewKey), dir);
          mounted.push(dir);
        }
        imageRoots.set(imageId, dir);
        return dir;
      };

      for (const source of step.sources) {
        await this.copySource(root, source, step, { owner, ...modeOpt }, destFor, imageRoot, work);
      }
      for (const dir of mounted.reverse()) await unmount(dir);
      mounted.length = 0;

      const blob = await engine.content.ingestStream(engine.snapshotter.layerTar(key), `build-${key}`);
      const diffIds = [...(parent?.config.rootfs.diff_ids ?? []), blob.digest];
      await engine.images.ensureLayers(diffIds);
      const config = imageConfigFor(parent, step, diffIds);
      const parentLayers = parent?.record.layers;
      const layers =
        parent === undefined
          ? []
          : parentLayers && parentLayers.length === parent.config.rootfs.diff_ids.length
            ? parentLayers
            : undefined;
      const id = await engine.imageStore.create(config, {
        ...(parent ? { parent: parent.record.id } : {}),
        ...(layers
          ? {
              layers: [
                ...layers,
                { mediaType: EMPTY_LAYER_MEDIA_TYPE, digest: blob.digest, size: blob.size },
              ],
            }
          : {}),
      });
      await this.cache.set(step.parentImageId, step.cacheKey, id);
      return { imageId: id };
    } finally {
      for (const dir of mounted.reverse()) await unmount(dir);
      for (const v of views) await engine.snapshotter.remove(v).catch(() => undefined);
      if (engine.snapshotter.has(key)) await engine.snapshotter.remove(key).catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    }
  }

  private async copySource(
    root: string,
    source: CopySource,
    step: CopyStep,
    options: { owner: Ownership; mode?: number },
    destFor: (name: string) => string,
    imageRoot: (imageId: string) => Promise<string>,
    work: string,
  ): Promise<void> {
    if (source.kind === 'inline') {
      const file = join(work, `inline-${randomBytes(4).toString('hex')}`);
      await writeFile(file, source.content, { mode: 0o644 });
      await copyIntoRoot(root, file, destFor(source.name), options);
      return;
    }
    if (source.kind === 'image') {
      const from = await imageRoot(source.imageId);
      const matches = /[*?[\\]/.test(source.path)
        ? await globInRoot(from, source.path)
        : [posix.normalize(`/${source.path}`)];
      if (matches.length === 0) throw notFound(`${step.instruction} failed: no source files were specified`);
      for (const path of matches) {
        const host = await resolveInRoot(from, path);
        const exists = await lstat(host).catch(() => undefined);
        if (!exists) throw notFound(`${step.instruction} failed: stat ${path}: file does not exist`);
        if (exists.isDirectory()) await this.mkdirDest(root, step.dest, options);
        await copyIntoRoot(
          root,
          host,
          exists.isDirectory() ? step.dest : destFor(posix.basename(path)),
          options,
        );
      }
      return;
    }
    if (source.type === 'directory') {
      await this.mkdirDest(root, step.dest, options);
      await copyIntoRoot(root, source.absolute, step.dest, {
        ...options,
        exclude: (rel) => source.exclude(source.path === '.' ? rel : `${source.path}/${rel}`),
      });
      return;
    }
    if (step.extractArchives && source.type === 'file' && (await isArchive(source.absolute))) {
      // Unpacked on the host into a fresh directory first, then copied in with the in-root
      // path resolution: the archive's own paths and links can never reach outside the image.
      const unpacked = await mkdtemp(join(work, 'archive-'));
      await extractArchive(createReadStream(source.absolute), unpacked, {
        whiteouts: 'none',
        sameOwner: true,
      }).catch((err: unknown) => {
        throw new BuildError(`ADD failed: unpacking ${source.path}: ${(err as Error).message}`);
      });
      await this.mkdirDest(root, step.dest, options);
      await copyIntoRoot(root, unpacked, step.dest, {
        ...(step.chown !== undefined ? { owner: options.owner } : {}),
        ...(options.mode !== undefined ? { mode: options.mode } : {}),
      });
      return;
    }
    await copyIntoRoot(root, source.absolute, destFor(posix.basename(source.path)), options);
  }

  private async mkdirDest(root: string, dest: string, options: { owner: Ownership }): Promise<void> {
    await mkdirInRoot(root, dest, options.owner);
  }
}

/** The new image's config: the parent's, with the step's run config and history appended. */
function imageConfigFor(
  parent: StoredImage | undefined,
  step: CommitStep | CopyStep,
  diffIds?: string[],
): ImageConfig {
  const base: ImageConfig = parent?.config ?? {
    ...hostPlatform(),
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
  // The parent's commit message and container are not this image's.
  const { comment: _comment, container: _container, ...rest } = base as ImageConfig & { container?: string };
  const config: ImageConfig = {
    ...rest,
    created: step.history.created ?? new Date().toISOString(),
    config: step.config,
    rootfs: { type: 'layers', diff_ids: diffIds ?? base.rootfs.diff_ids },
    history: [...(base.history ?? []), step.history],
  };
  if (step.author !== undefined) config.author = step.author;
  return config;
}

/** `--chown=user:group` against the image's own /etc/passwd and /etc/group. */
async function chownOf(root: string, spec: string): Promise<Ownership> {
  // resolveUser reads <dir>/etc/{passwd,group}; give it copies read safely from the image.
  const dir = await mkdtemp(join(root, '..', 'passwd-'));
  try {
    await mkdir(join(dir, 'etc'));
    await writeFile(join(dir, 'etc/passwd'), (await readFileInRoot(root, '/etc/passwd')) ?? '');
    await writeFile(join(dir, 'etc/group'), (await readFileInRoot(root, '/etc/group')) ?? '');
    const { uid, gid } = await resolveUser(dir, spec);
    return { uid, gid };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface BuildFromContextOptions extends BuildOptions, EngineBuildOptions {
  /** The Dockerfile's path inside the context (default `Dockerfile`). */
  dockerfile?: string;
}

/**
 * `POST /build`: builds the Dockerfile of a tar build context (what the docker CLI sends).
 * Progress lines go to `onProgress`; errors are thrown (parse errors before any progress).
 */
export async function buildFromTar(
  engine: Engine,
  tar: AsyncIterable<Uint8Array> | Buffer,
  options: BuildFromContextOptions,
  onProgress: ProgressListener,
): Promise<BuildResult> {
  return buildContext(engine, tar, undefined, options, onProgress);
}

/**
 * `POST /build?remote=…`: fetches a git repository or an http(s) tarball or Dockerfile (see
 * build-remote.ts) and builds it like an uploaded context; the fetched copy is removed after.
 */
export async function buildFromRemote(
  engine: Engine,
  remote: string,
  options: BuildFromContextOptions,
  onProgress: ProgressListener,
): Promise<BuildResult> {
  const fetched = await fetchRemoteContext(engine, remote);
  try {
    // A Dockerfile on its own is built with an empty context, as Docker does.
    if ('dockerfile' in fetched)
      return await buildContext(engine, EMPTY_TAR, fetched.dockerfile, options, onProgress);
    return await buildContext(engine, fetched.tar, undefined, options, onProgress);
  } finally {
    await fetched.cleanup();
  }
}

/** Two zero blocks: a tar archive with nothing in it. */
const EMPTY_TAR = Buffer.alloc(1024);

async function buildContext(
  engine: Engine,
  tar: AsyncIterable<Uint8Array> | Buffer,
  dockerfileText: string | undefined,
  options: BuildFromContextOptions,
  onProgress: ProgressListener,
): Promise<BuildResult> {
  // Under the data root, like Docker's /var/lib/docker/tmp: on the disk that holds images, and
  // emptied when the daemon starts (a crash mid-upload leaves nothing for good).
  const tempDir = join(engine.options.dataRoot, 'tmp');
  await mkdir(tempDir, { recursive: true, mode: 0o700 });
  const context = await BuildContext.fromTar(tar, {
    tempDir,
    dockerfile: options.dockerfile && options.dockerfile !== '' ? options.dockerfile : 'Dockerfile',
  });
  try {
    let dockerfile: string;
    if (dockerfileText !== undefined) dockerfile = dockerfileText;
    else {
      try {
        dockerfile = await context.readDockerfile();
      } catch (err) {
        // Docker also accepts a lower-case `dockerfile` when none was named.
        if (options.dockerfile) throw err;
        dockerfile = await context.readDockerfile('dockerfile').catch(() => {
          throw err;
        });
      }
    }
    const {
      removeIntermediate,
      forceRemove,
      pull,
      onPullProgress,
      runHostConfig,
      cacheFrom,
      dockerfile: _df,
      ...buildOptions
    } = options;
    const backend = new EngineBuildBackend(engine, {
      ...(removeIntermediate !== undefined ? { removeIntermediate } : {}),
      ...(forceRemove !== undefined ? { forceRemove } : {}),
      ...(pull !== undefined ? { pull } : {}),
      ...(onPullProgress !== undefined ? { onPullProgress } : {}),
      ...(runHostConfig !== undefined ? { runHostConfig } : {}),
      ...(cacheFrom !== undefined ? { cacheFrom } : {}),
    });
    return await build(dockerfile, context, buildOptions, backend, onProgress);
  } finally {
    await context.close();
  }
}

/** `POST /build/prune`: forgets cache entries; with `all`, every entry, else those of gone images. */
export async function pruneBuildCache(engine: Engine, options: { all?: boolean } = {}): Promise<number> {
  const cache = buildCacheOf(engine);
  return cache.prune(options.all ? () => false : (image) => engine.imageStore.has(image));
}

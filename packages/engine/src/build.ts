import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerCreateRequest, HostConfig } from '@ts-container/api';
import {
  type BaseImage,
  type BuildBackend,
  BuildContext,
  BuildError,
  type BuildOptions,
  type BuildResult,
  type CommitStep,
  type CopyStep,
  type ProgressListener,
  type RunResult,
  type RunStep,
  type StepResult,
  build,
} from '@ts-container/builder';
import { NoSuchImageError } from '@ts-container/image';
import { type BuildCache, buildCacheOf } from './build-cache.js';
import { copyLayer, imageConfigFor } from './build-copy.js';
import type { BuildDeps } from './build-deps.js';
import { fetchRemoteContext } from './build-remote.js';
import { EngineError, errorKind } from './errors.js';
import type { ProgressSink } from './registry.js';

export { BuildCache, buildCacheOf, pruneBuildCache } from './build-cache.js';

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

export class EngineBuildBackend implements BuildBackend {
  private readonly cache: BuildCache;
  /** With `cacheFrom`: the images a cache hit may be, else undefined (any image). */
  private cacheSources: Promise<Set<string>> | undefined;
  /** Intermediate containers being removed while the next steps run; see {@link settle}. */
  private readonly removals: Promise<void>[] = [];
  /** Cache index writes under way while the next steps run (the index in memory has them). */
  private readonly cacheWrites: Promise<void>[] = [];

  constructor(
    private readonly engine: BuildDeps,
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
    this.remember(step, id);
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
    // Its runtime state and network go while the step commits (see ContainerService.create).
    const { Id: id } = await containers.create(request, undefined, { releaseAfterExit: true });
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
        // The container goes right after: its snapshot becomes the layer as it lies.
        adoptSnapshot: this.options.removeIntermediate !== false,
        ...(step.author !== undefined ? { author: step.author } : {}),
      });
      this.remember(step, imageId);
      succeeded = true;
      const containerRemoved = this.options.removeIntermediate !== false;
      return { exitCode: 0, imageId, containerId: id, ...(containerRemoved ? { containerRemoved } : {}) };
    } finally {
      const remove = succeeded
        ? this.options.removeIntermediate !== false
        : this.options.forceRemove === true;
      // Off the step's path: the next step starts while this container goes (its snapshot,
      // adopted as the layer, is no longer its own); the build waits for it before it ends.
      if (remove) this.removals.push(containers.remove(id, { force: true }).catch(() => undefined));
    }
  }

  /**
   * Records a step's image in the cache index: at once in memory (a later step or build finds
   * it), on disk off the step's path; {@link settle} waits for the write and reports its failure.
   */
  private remember(step: { parentImageId: string | null; cacheKey: string }, imageId: string): void {
    const write = this.cache.set(step.parentImageId, step.cacheKey, imageId);
    // Handled here, reported by settle: no unhandled rejection while later steps run.
    write.catch(() => undefined);
    this.cacheWrites.push(write);
  }

  /** Waits until every intermediate container removed so far is gone and the cache index is written. */
  async settle(): Promise<void> {
    await Promise.all(this.removals);
    await Promise.all(this.cacheWrites);
  }

  async copy(step: CopyStep): Promise<StepResult> {
    const id = await copyLayer(this.engine, step);
    this.remember(step, id);
    return { imageId: id };
  }
}

export interface BuildFromContextOptions extends BuildOptions, EngineBuildOptions {
  /** The Dockerfile's path inside the context (default `Dockerfile`). */
  dockerfile?: string;
  /** The context holds only what these COPY/ADD sources read (BuildContextOptions.sentSources). */
  sentSources?: readonly string[];
  /**
   * Called with the result once the build is done (its images tagged, its intermediate
   * containers removed, its cache entries written), before the context's temporary files are
   * removed: the client can have its answer while they go.
   */
  onBuilt?: (result: BuildResult) => void;
}

/**
 * `POST /build`: builds the Dockerfile of a tar build context (what the docker CLI sends).
 * Progress lines go to `onProgress`; errors are thrown (parse errors before any progress).
 */
export async function buildFromTar(
  engine: BuildDeps,
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
  engine: BuildDeps,
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
  engine: BuildDeps,
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
    ...(options.sentSources ? { sentSources: options.sentSources } : {}),
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
      sentSources: _sent,
      onBuilt,
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
    let result: BuildResult;
    try {
      result = await build(dockerfile, context, buildOptions, backend, onProgress);
    } finally {
      await backend.settle();
    }
    onBuilt?.(result);
    return result;
  } finally {
    await context.close();
  }
}

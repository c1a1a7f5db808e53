import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PassThrough, type Readable, pipeline } from 'node:stream';
import {
  type ContentStore,
  type HistoryEntry,
  type ImageConfig,
  type ImageRunConfig,
  type ImageStore,
  chainIds,
} from '@ts-container/image';
import type { ContainerRuntime } from '@ts-container/runtime';
import {
  type Change,
  type ExtractOptions,
  type LayerSummary,
  type Mount,
  type PathStat,
  SnapshotError,
  type Snapshotter,
  archiveFromRoot,
  cleanContainerPath,
  extractToRoot,
  mountAll,
  mountsUnder,
  statInRoot,
  unmount,
} from '@ts-container/unionfs';
import { execa } from 'execa';
import type { ContainerService } from './containers.js';
import { conflict, invalidParameter, notFound } from './errors.js';
import type { ImageService } from './images.js';
import { applyConfigChanges } from './import-changes.js';
import { mountHolding } from './mount-points.js';
import type { VolumeService } from './volumes.js';

/** What commit, diff, export and `docker cp` use (the engine has all of it). */
export interface ChangesDeps {
  options: { execRoot: string };
  containers: Pick<ContainerService, 'get' | 'mountOptions' | 'rootfsDir'>;
  content: Pick<ContentStore, 'ingestStream'>;
  imageStore: Pick<ImageStore, 'create' | 'get' | 'tag'>;
  images: Pick<ImageService, 'ensureLayers'>;
  runtime: Pick<ContainerRuntime, 'pause' | 'resume' | 'state'>;
  snapshotter: Pick<
    Snapshotter,
    | 'chain'
    | 'changes'
    | 'commit'
    | 'commitInPlace'
    | 'copyLayer'
    | 'has'
    | 'layerSize'
    | 'layerTar'
    | 'mounts'
    | 'remove'
    | 'stat'
    | 'usage'
  >;
  volumes: Pick<VolumeService, 'mountpoint'>;
}

/** Prefixes of the short-lived mount directories this file makes under the exec root. */
const TEMP_MOUNT_PREFIXES = ['export-', 'archive-'];

export interface CommitOptions {
  /** `repo[:tag]` to tag the new image with. */
  reference?: string;
  comment?: string;
  author?: string;
  /** Dockerfile-style changes (`-c 'CMD ["sh"]'`). */
  changes?: string[];
  /** Replaces the run configuration the image gets (builds pass the step's config). */
  config?: Partial<ImageRunConfig>;
  /** The history entry to record (builds pass theirs); defaults to the container's command. */
  history?: HistoryEntry;
  /** Freeze the container while its layer is read (Docker's default for running containers). */
  pause?: boolean;
  /**
   * The container is removed right after (a build's RUN step): its stopped snapshot becomes
   * the new layer as it lies instead of being unpacked again from the tarball.
   */
  adoptSnapshot?: boolean;
}

/** `docker diff`: the container's changes against its image. */
export async function containerChanges(engine: ChangesDeps, ref: string): Promise<Change[]> {
  const c = engine.containers.get(ref);
  return engine.snapshotter.changes(c.Id);
}

/**
 * `docker commit`: the container's writable layer becomes a new layer on top of its image's
 * layers, stored uncompressed (blob digest = DiffID) and unpacked as a committed snapshot.
 */
export async function commitContainer(
  engine: ChangesDeps,
  ref: string,
  options: CommitOptions = {},
): Promise<string> {
  const c = engine.containers.get(ref);
  const image = await engine.imageStore.get(c.Image);
  const pause =
    options.pause !== false && c.State.Running && !c.State.Paused && (await freezeForCommit(engine, c.Id));
  let blob: { digest: string; size: number };
  let written: LayerSummary | undefined;
  // The layer's snapshot is copied beside the walk while nothing writes to it (stopped, or
  // frozen here), unless the container's own snapshot is to become the layer.
  const frozen = !c.State.Running || pause;
  const copy =
    options.adoptSnapshot !== true && frozen && !c.IdMappings
      ? engine.snapshotter.copyLayer(c.Id)
      : undefined;
  let copyKey: string | undefined;
  try {
    // One pass: the walk of the layer writes the tarball, which is digested as it is stored.
    const ingest = engine.content.ingestStream(
      engine.snapshotter.layerTar(c.Id, {
        ...(c.IdMappings ? { idMappings: c.IdMappings } : {}),
        onDone: (summary) => {
          written = summary;
        },
      }),
      `commit-${c.Id}-${Date.now()}`,
    );
    const [stored, copied] = await Promise.allSettled([ingest, copy]);
    if (copied.status === 'fulfilled') copyKey = copied.value;
    if (stored.status === 'rejected' || copied.status === 'rejected') {
      if (copyKey !== undefined) await engine.snapshotter.remove(copyKey);
      throw stored.status === 'rejected' ? stored.reason : (copied as PromiseRejectedResult).reason;
    }
    blob = stored.value;
  } finally {
    if (pause)
      await engine.runtime.resume(c.Id).catch(async (err: unknown) => {
        if (await processAlive(engine, c.Id)) throw err;
      });
  }
  const diffIds = [...image.config.rootfs.diff_ids, blob.digest];
  if (copyKey !== undefined) await commitCopiedLayer(engine, copyKey, diffIds, written?.contentSize ?? 0);
  else if (options.adoptSnapshot === true && written !== undefined)
    await adoptContainerSnapshot(engine, c, diffIds, written.contentSize);
  await engine.images.ensureLayers(diffIds);
  const now = new Date().toISOString();
  const runConfig: ImageRunConfig = (options.config as ImageRunConfig | undefined) ?? {
    ...(image.config.config ?? {}),
    Env: c.Config.Env ?? image.config.config?.Env ?? null,
    Cmd: (c.Config.Cmd as string[] | null | undefined) ?? null,
    Entrypoint: (c.Config.Entrypoint as string[] | null | undefined) ?? null,
    WorkingDir: c.Config.WorkingDir ?? '',
    User: c.Config.User ?? '',
    Labels: (c.Config.Labels ?? {}) as Record<string, string>,
    ExposedPorts: (c.Config.ExposedPorts ?? null) as ImageRunConfig['ExposedPorts'],
  };
  // The parent's commit message is not this image's.
  const { comment: _parentComment, ...parentConfig } = image.config;
  let config: ImageConfig = {
    ...parentConfig,
    created: now,
    config: runConfig,
    container: c.Id,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [
      ...(image.config.history ?? []),
      options.history ?? {
        created: now,
        created_by: [c.Path, ...c.Args].join(' '),
        ...(options.author ? { author: options.author } : {}),
        ...(options.comment ? { comment: options.comment } : {}),
      },
    ],
  };
  if (options.author) config.author = options.author;
  if (options.comment) config.comment = options.comment;
  if (options.changes && options.changes.length > 0) config = applyConfigChanges(config, options.changes);
  const layers = [
    ...(image.record.layers ?? []),
    { mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: blob.digest, size: blob.size },
  ];
  const id = await engine.imageStore.create(config, {
    parent: c.Image,
    ...(image.record.layers?.length === image.config.rootfs.diff_ids.length ? { layers } : {}),
  });
  if (options.reference) await engine.imageStore.tag(id, options.reference);
  return id;
}

/**
 * Makes a stopped container's snapshot the committed layer `diffIds` ends with, where it lies
 * (as BuildKit commits a RUN step's snapshot): no unpack of the tarball just written. Skipped
 * (the layer is then unpacked from the tarball) when the layer exists already, or when the
 * snapshot is not in the image's form: a running container's, or one with id mappings (its
 * files carry host ids, the tarball the container's).
 */
async function adoptContainerSnapshot(
  engine: ChangesDeps,
  c: ReturnType<ChangesDeps['containers']['get']>,
  diffIds: string[],
  contentSize: number,
): Promise<void> {
  const current = engine.containers.get(c.Id);
  if (current.State.Running || current.IdMappings || !engine.snapshotter.has(c.Id)) return;
  const chain = chainIds(diffIds);
  const name = chain.at(-1)!;
  if (engine.snapshotter.has(name) || engine.snapshotter.stat(c.Id).parent !== chain.at(-2)) return;
  await engine.snapshotter.commitInPlace(name, c.Id, contentSize);
}

/** Commits the copy of a container's layer as the layer `diffIds` ends with, unless that exists. */
async function commitCopiedLayer(
  engine: ChangesDeps,
  copyKey: string,
  diffIds: string[],
  contentSize: number,
): Promise<void> {
  const chain = chainIds(diffIds);
  if (engine.snapshotter.has(chain.at(-1)!)) await engine.snapshotter.remove(copyKey);
  else
    await engine.snapshotter.commit(
      chain.at(-1)!,
      copyKey,
      { 'tsctr.size': String(contentSize) },
      chain.at(-2),
    );
}

/**
 * Pauses a running container for its commit. One that is just exiting cannot be paused, and
 * needs no freezing (Docker commits it all the same): false, nothing to resume.
 */
async function freezeForCommit(engine: ChangesDeps, id: string): Promise<boolean> {
  try {
    await engine.runtime.pause(id);
    return true;
  } catch (err) {
    if (await processAlive(engine, id)) throw err;
    return false;
  }
}

async function processAlive(engine: ChangesDeps, id: string): Promise<boolean> {
  if (!engine.containers.get(id).State.Running) return false;
  const state = await engine.runtime.state(id);
  return state?.status === 'running' || state?.status === 'paused';
}

function readonlyMounts(mounts: Mount[]): Mount[] {
  return mounts.map((m) => ({ ...m, options: [...m.options.filter((o) => o !== 'rw'), 'ro'] }));
}

/**
 * Runs `body` with the container's merged filesystem: a running container's rootfs is mounted
 * already; otherwise its snapshot is mounted on a temporary directory for the duration.
 */
async function withRootfs<T>(
  engine: ChangesDeps,
  ref: string,
  mode: 'ro' | 'rw',
  body: (rootfs: string, release: () => Promise<void>) => Promise<T>,
): Promise<T> {
  const c = engine.containers.get(ref);
  if (c.State.Status === 'removing') throw conflict(`container ${c.Id} is being removed`);
  if (c.State.Running) return body(engine.containers.rootfsDir(c.Id), async () => {});
  const prefix = mode === 'ro' ? 'export-' : 'archive-';
  const tmp = await mkdtemp(join(engine.options.execRoot, prefix));
  const dir = join(tmp, 'rootfs');
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await unmount(dir);
    await rm(tmp, { recursive: true, force: true });
  };
  try {
    await mkdir(dir);
    const mounts = await engine.snapshotter.mounts(c.Id);
    await mountAll(
      mode === 'ro' ? readonlyMounts(mounts) : mounts,
      dir,
      await engine.containers.mountOptions(c),
    );
  } catch (err) {
    await release();
    throw err;
  }
  return body(dir, release);
}

/**
 * Runs `body` with the directory that holds container path `path` and the path inside it: a
 * volume's or bind's host directory when a mount holds the path (running or not), else the
 * container's merged filesystem (see withRootfs).
 */
async function withPathRoot<T>(
  engine: ChangesDeps,
  ref: string,
  path: string,
  mode: 'ro' | 'rw',
  body: (root: string, inner: string, release: () => Promise<void>) => Promise<T>,
): Promise<T> {
  const c = engine.containers.get(ref);
  const held = mountHolding(c.MountPoints, path);
  if (!held) return withRootfs(engine, ref, mode, (dir, release) => body(dir, path, release));
  if (c.State.Status === 'removing') throw conflict(`container ${c.Id} is being removed`);
  if (mode === 'rw' && !held.point.RW)
    throw invalidParameter(`mounted volume is marked read-only: ${held.point.Destination}`);
  const root =
    held.point.Type === 'volume' && held.point.Name
      ? await engine.volumes.mountpoint(held.point.Name)
      : held.point.Source;
  return body(root, held.inner, async () => {});
}

/** The stat of a mount's own root is named after its destination, not `/`. */
function named(stat: PathStat, path: string): PathStat {
  return stat.name === '/' && cleanContainerPath(path) !== '/'
    ? { ...stat, name: posix.basename(cleanContainerPath(path)) }
    : stat;
}

/**
 * `docker export`: a tarball of the container's merged filesystem, running or not (a stopped
 * one is mounted read-only for the export).
 */
export async function exportContainer(engine: ChangesDeps, ref: string): Promise<Readable> {
  const { IdMappings: idMappings } = engine.containers.get(ref);
  return withRootfs(engine, ref, 'ro', async (dir, release) => {
    if (idMappings) {
      // Its files show host ids here: our own writer gives them back the container's.
      const { tar } = await archiveFromRoot(dir, '/', { idMappings }).catch(async (err: unknown) => {
        await release();
        throw err;
      });
      tar.on('close', () => void release());
      return tar;
    }
    const proc = execa('tar', ['--numeric-owner', '--xattrs', '--acls', '-C', dir, '-cf', '-', '.'], {
      buffer: false,
      stderr: 'pipe',
    });
    const out = new PassThrough();
    // A reader that went away leaves tar blocked on its output: it is stopped instead.
    pipeline(proc.stdout!, out, (err) => {
      if (err) proc.kill('SIGKILL');
    });
    proc.then(
      () => release(),
      (err: unknown) => {
        out.destroy(err as Error);
        return release();
      },
    );
    return out;
  });
}

function pathError(err: unknown, ref: string): unknown {
  if (err instanceof SnapshotError && err.kind === 'not-found')
    return notFound(`${err.message} in container ${ref}`);
  if (err instanceof SnapshotError && err.kind === 'invalid-argument') return invalidParameter(err.message);
  return err;
}

/** HEAD /containers/{id}/archive: Docker's stat of a path inside the container. */
export async function statContainerPath(engine: ChangesDeps, ref: string, path: string): Promise<PathStat> {
  return withPathRoot(engine, ref, path, 'ro', async (dir, inner, release) => {
    try {
      return named(await statInRoot(dir, inner), path);
    } catch (err) {
      throw pathError(err, ref);
    } finally {
      await release();
    }
  });
}

/**
 * GET /containers/{id}/archive (`docker cp CONTAINER:PATH -`): a tarball of the path, its
 * entries named after the path's last component. Symlinks resolve inside the container.
 */
export async function getContainerArchive(
  engine: ChangesDeps,
  ref: string,
  path: string,
): Promise<{ stat: PathStat; tar: Readable }> {
  return withPathRoot(engine, ref, path, 'ro', async (dir, inner, release) => {
    let result: { stat: PathStat; tar: Readable };
    try {
      const idMappings = engine.containers.get(ref).IdMappings;
      const stat = named(await statInRoot(dir, inner), path);
      result = await archiveFromRoot(dir, inner, {
        ...(idMappings ? { idMappings } : {}),
        // A mount's own root goes by its destination's name (`vol1/…`), as in Docker.
        ...(stat.name !== '/' && cleanContainerPath(inner) === '/' ? { rootName: stat.name } : {}),
      });
      result = { ...result, stat };
    } catch (err) {
      await release();
      throw pathError(err, ref);
    }
    const out = new PassThrough();
    // However it ends (read to the end, failed, or dropped by a reader that went away), the
    // walk stops and the rootfs is released once.
    pipeline(result.tar, out, () => void release());
    return { stat: result.stat, tar: out };
  });
}

/**
 * PUT /containers/{id}/archive (`docker cp - CONTAINER:DIR`): unpacks a tarball into an
 * existing directory of the container, resolving every entry inside the container root.
 */
export async function putContainerArchive(
  engine: ChangesDeps,
  ref: string,
  path: string,
  source: Readable,
  options: ExtractOptions = {},
): Promise<void> {
  await withPathRoot(engine, ref, path, 'rw', async (dir, inner, release) => {
    try {
      const idMappings = engine.containers.get(ref).IdMappings;
      await extractToRoot(dir, inner, source, idMappings ? { ...options, idMappings } : options);
    } catch (err) {
      throw pathError(err, ref);
    } finally {
      await release();
    }
  });
}

/** Sizes for `docker ps -s` / inspect `--size`: Docker's SizeRw and SizeRootFs. */
export interface ContainerSize {
  /** Bytes in the container's writable layer. */
  SizeRw: number;
  /** Virtual size: the image's layers plus the writable layer. */
  SizeRootFs: number;
}

/** The sizes of container `ref` (its upper dir is measured with du). */
export async function containerSize(engine: ChangesDeps, ref: string): Promise<ContainerSize> {
  const c = engine.containers.get(ref);
  if (!engine.snapshotter.has(c.Id)) return { SizeRw: 0, SizeRootFs: 0 };
  const rw = (await engine.snapshotter.usage(c.Id)).size;
  const parent = engine.snapshotter.stat(c.Id).parent;
  let image = 0;
  if (parent !== undefined)
    for (const s of engine.snapshotter.chain(parent)) image += engine.snapshotter.layerSize(s.key);
  return { SizeRw: rw, SizeRootFs: rw + image };
}

/**
 * Start-up repair of what a crash leaves behind here: temporary export/cp mounts under the
 * exec root, unmounted and removed. Returns the directories cleaned.
 */
export async function repairTemporaryMounts(engine: ChangesDeps): Promise<string[]> {
  const root = engine.options.execRoot;
  const cleaned: string[] = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (!TEMP_MOUNT_PREFIXES.some((p) => name.startsWith(p))) continue;
    const dir = join(root, name);
    for (const mount of (await mountsUnder(dir)).reverse()) await unmount(mount);
    await rm(dir, { recursive: true, force: true });
    cleaned.push(dir);
  }
  return cleaned;
}

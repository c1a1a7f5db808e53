import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PassThrough, type Readable, pipeline } from 'node:stream';
import {
  type Change,
  type ExtractOptions,
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
import type { CommitDeps } from './commit.js';
import type { ContainerService } from './containers.js';
import { conflict, invalidParameter, notFound } from './errors.js';
import { mountHolding } from './mount-points.js';
import type { VolumeService } from './volumes.js';

/** What commit, diff, export and `docker cp` use (the engine has all of it). */
export interface ChangesDeps extends CommitDeps {
  options: { execRoot: string };
  containers: Pick<ContainerService, 'get' | 'mountOptions' | 'rootfsDir'>;
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

/** `docker diff`: the container's changes against its image. */
export async function containerChanges(engine: ChangesDeps, ref: string): Promise<Change[]> {
  const c = engine.containers.get(ref);
  return engine.snapshotter.changes(c.Id);
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

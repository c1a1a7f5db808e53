import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { BuildError, type CommitStep, type CopySource, type CopyStep } from '@ts-container/builder';
import { hostPlatform } from '@ts-container/common';
import { type ImageConfig, type StoredImage, chainIds, extractArchive } from '@ts-container/image';
import { mountAll, unmount } from '@ts-container/unionfs';
import type { BuildDeps } from './build-deps.js';
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
import { copyFromSpool, spoolFileIsArchive, spoolFileStream } from './build-spool.js';
import { notFound } from './errors.js';
import { resolveUser } from './user.js';

/**
 * COPY and ADD for the engine's build backend: a snapshot on the parent image, the sources
 * written into it (context files, other images' paths, inline heredocs, unpacked archives), and
 * the new layer committed as an image.
 */

const EMPTY_LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar';

/** Writes `step`'s sources into a new layer on its parent; returns the new image's ID. */
export async function copyLayer(engine: BuildDeps, step: CopyStep): Promise<string> {
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
      await copySource(root, source, step, { owner, ...modeOpt }, destFor, imageRoot, work);
    }
    for (const dir of mounted.reverse()) await unmount(dir);
    mounted.length = 0;

    let contentSize: number | undefined;
    const blob = await engine.content.ingestStream(
      engine.snapshotter.layerTar(key, {
        onDone: (summary) => {
          contentSize = summary.contentSize;
        },
      }),
      `build-${key}`,
    );
    const diffIds = [...(parent?.config.rootfs.diff_ids ?? []), blob.digest];
    if (contentSize !== undefined) await adoptSnapshot(engine, key, diffIds, contentSize);
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
            layers: [...layers, { mediaType: EMPTY_LAYER_MEDIA_TYPE, digest: blob.digest, size: blob.size }],
          }
        : {}),
    });
    return id;
  } finally {
    for (const dir of mounted.reverse()) await unmount(dir);
    for (const v of views) await engine.snapshotter.remove(v).catch(() => undefined);
    if (engine.snapshotter.has(key)) await engine.snapshotter.remove(key).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Makes the step's snapshot the committed layer `diffIds` ends with, where it lies (as a RUN
 * step's is, commit.ts): its upper directory is already the layer the tarball was written from,
 * so nothing is unpacked again. Skipped (ensureLayers then unpacks the tarball) when that layer
 * exists already. Until the commit the snapshot is labelled `tsctr.container`, which start-up
 * repair removes; afterwards it is an unreferenced layer, which garbage collection removes.
 */
async function adoptSnapshot(
  engine: BuildDeps,
  key: string,
  diffIds: string[],
  contentSize: number,
): Promise<void> {
  const chain = chainIds(diffIds);
  const name = chain.at(-1)!;
  if (engine.snapshotter.has(name) || engine.snapshotter.stat(key).parent !== chain.at(-2)) return;
  await engine.snapshotter.commitInPlace(name, key, contentSize);
}

async function copySource(
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
      if (exists.isDirectory()) await mkdirInRoot(root, step.dest, options.owner);
      await copyIntoRoot(
        root,
        host,
        exists.isDirectory() ? step.dest : destFor(posix.basename(path)),
        options,
      );
    }
    return;
  }
  const spool = source.spool;
  if (source.type === 'directory') {
    await mkdirInRoot(root, step.dest, options.owner);
    const exclude = (rel: string) => source.exclude(source.path === '.' ? rel : `${source.path}/${rel}`);
    if (spool) await copyFromSpool(root, spool, source.path, step.dest, { ...options, exclude });
    else await copyIntoRoot(root, source.absolute, step.dest, { ...options, exclude });
    return;
  }
  const archive =
    step.extractArchives &&
    source.type === 'file' &&
    (spool ? await spoolFileIsArchive(spool, source.path) : await isArchive(source.absolute));
  if (archive) {
    // Unpacked on the host into a fresh directory first, then copied in with the in-root
    // path resolution: the archive's own paths and links can never reach outside the image.
    const unpacked = await mkdtemp(join(work, 'archive-'));
    const content = spool ? await spoolFileStream(spool, source.path) : createReadStream(source.absolute);
    await extractArchive(content, unpacked, {
      whiteouts: 'none',
      sameOwner: true,
    }).catch((err: unknown) => {
      throw new BuildError(`ADD failed: unpacking ${source.path}: ${(err as Error).message}`);
    });
    await mkdirInRoot(root, step.dest, options.owner);
    await copyIntoRoot(root, unpacked, step.dest, {
      ...(step.chown !== undefined ? { owner: options.owner } : {}),
      ...(options.mode !== undefined ? { mode: options.mode } : {}),
    });
    return;
  }
  const dest = destFor(posix.basename(source.path));
  if (spool) await copyFromSpool(root, spool, source.path, dest, options);
  else await copyIntoRoot(root, source.absolute, dest, options);
}

/** The new image's config: the parent's, with the step's run config and history appended. */
export function imageConfigFor(
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

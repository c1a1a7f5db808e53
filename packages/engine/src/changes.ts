import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type { HistoryEntry, ImageConfig, ImageRunConfig } from '@ts-container/image';
import { type Change, mountAll, unmount } from '@ts-container/unionfs';
import { execa } from 'execa';
import type { Engine } from './engine.js';
import { conflict } from './errors.js';
import { applyConfigChanges } from './import-changes.js';

export interface CommitOptions {
  /** `repo[:tag]` to tag the new image with. */
  reference?: string;
  comment?: string;
  author?: string;
  /** Dockerfile-style changes (`-c 'CMD ["sh"]'`). */
  changes?: string[];
  /** Replaces the run configuration the image gets (builds pass the step's config). */
  config?: ImageRunConfig;
  /** The history entry to record (builds pass theirs); defaults to the container's command. */
  history?: HistoryEntry;
  /** Freeze the container while its layer is read (Docker's default for running containers). */
  pause?: boolean;
}

/** `docker diff`: the container's changes against its image. */
export async function containerChanges(engine: Engine, ref: string): Promise<Change[]> {
  const c = engine.containers.get(ref);
  return engine.snapshotter.changes(c.Id);
}

/**
 * `docker commit`: the container's writable layer becomes a new layer on top of its image's
 * layers, stored uncompressed (blob digest = DiffID) and unpacked as a committed snapshot.
 */
export async function commitContainer(
  engine: Engine,
  ref: string,
  options: CommitOptions = {},
): Promise<string> {
  const c = engine.containers.get(ref);
  const image = await engine.imageStore.get(c.Image);
  const pause = options.pause !== false && c.State.Running && !c.State.Paused;
  if (pause) await engine.runtime.oci.pause(c.Id);
  let blob: { digest: string; size: number };
  try {
    blob = await engine.content.ingestStream(
      engine.snapshotter.layerTar(c.Id),
      `commit-${c.Id}-${Date.now()}`,
    );
  } finally {
    if (pause) await engine.runtime.oci.resume(c.Id);
  }
  const diffIds = [...image.config.rootfs.diff_ids, blob.digest];
  await engine.images.ensureLayers(diffIds);
  const now = new Date().toISOString();
  const runConfig: ImageRunConfig = options.config ?? {
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
 * `docker export`: a tarball of the container's merged filesystem. A running container's
 * rootfs is mounted already; a stopped one is mounted read-only for the export.
 */
export async function exportContainer(engine: Engine, ref: string): Promise<Readable> {
  const c = engine.containers.get(ref);
  if (c.State.Status === 'removing') throw conflict(`container ${c.Id} is being removed`);
  let dir = engine.containers.rootfsDir(c.Id);
  let cleanup = async () => {};
  if (!c.State.Running) {
    const tmp = await mkdtemp(join(engine.options.execRoot, 'export-'));
    dir = join(tmp, 'rootfs');
    await mkdir(dir);
    // The container's own snapshot mounted again: its layers plus its changes, nothing running.
    await mountAll(await engine.snapshotter.mounts(c.Id), dir);
    cleanup = async () => {
      await unmount(dir);
      await rm(tmp, { recursive: true, force: true });
    };
  }
  const proc = execa('tar', ['--numeric-owner', '--xattrs', '--acls', '-C', dir, '-cf', '-', '.'], {
    buffer: false,
    stderr: 'pipe',
  });
  const out = new PassThrough();
  proc.stdout!.pipe(out);
  proc.then(
    () => cleanup(),
    (err: unknown) => {
      out.destroy(err as Error);
      return cleanup();
    },
  );
  return out;
}

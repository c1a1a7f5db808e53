import {
  type ContentStore,
  type HistoryEntry,
  type ImageConfig,
  type ImageRunConfig,
  type ImageStore,
  chainIds,
} from '@ts-container/image';
import type { ContainerRuntime } from '@ts-container/runtime';
import type { LayerSummary, Snapshotter } from '@ts-container/unionfs';
import type { ContainerService } from './containers.js';
import type { ImageService } from './images.js';
import { applyConfigChanges } from './import-changes.js';

/** What `docker commit` (and a build's RUN step) uses: the engine has all of it. */
export interface CommitDeps {
  containers: Pick<ContainerService, 'get'>;
  content: Pick<ContentStore, 'ingestStream'>;
  imageStore: Pick<ImageStore, 'create' | 'get' | 'tag'>;
  images: Pick<ImageService, 'ensureLayers'>;
  runtime: Pick<ContainerRuntime, 'pause' | 'resume' | 'state'>;
  snapshotter: Pick<
    Snapshotter,
    'commit' | 'commitInPlace' | 'copyLayer' | 'has' | 'layerTar' | 'remove' | 'stat'
  >;
}

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

/**
 * `docker commit`: the container's writable layer becomes a new layer on top of its image's
 * layers, stored uncompressed (blob digest = DiffID) and unpacked as a committed snapshot.
 */
export async function commitContainer(
  engine: CommitDeps,
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
  // frozen here), unless the container's own snapshot is to become the layer. A stopped
  // container's files are hard-linked: its snapshot gets copies of its own if it is mounted again.
  const frozen = !c.State.Running || pause;
  const copy =
    options.adoptSnapshot !== true && frozen && !c.IdMappings
      ? engine.snapshotter.copyLayer(c.Id, { link: !c.State.Running })
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
  engine: CommitDeps,
  c: ReturnType<CommitDeps['containers']['get']>,
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
  engine: CommitDeps,
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
async function freezeForCommit(engine: CommitDeps, id: string): Promise<boolean> {
  try {
    await engine.runtime.pause(id);
    return true;
  } catch (err) {
    if (await processAlive(engine, id)) throw err;
    return false;
  }
}

async function processAlive(engine: CommitDeps, id: string): Promise<boolean> {
  if (!engine.containers.get(id).State.Running) return false;
  const state = await engine.runtime.state(id);
  return state?.status === 'running' || state?.status === 'paused';
}

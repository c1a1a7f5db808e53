import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type ApplyLayerResult, applyLayer, writeFileAtomic } from '@ts-container/image';
import { execa } from 'execa';
import { z } from 'zod';
import { type Change, overlayChanges, treeChanges } from './changes.js';
import {
  CopyDriver,
  type DriverName,
  OverlayDriver,
  type StorageDriver,
  overlaySupported,
} from './drivers.js';
import { SnapshotError } from './errors.js';
import type { IdMappings } from './idmap.js';
import { copyTree, unshareTree } from './layer-copy.js';
import { type LayerSummary, overlayLayerTar, treeLayerTar } from './layer-writer.js';
import type { Mount } from './mount.js';

export const SnapshotInfoSchema = z.object({
  key: z.string(),
  /** Directory name inside the driver's root. */
  id: z.string(),
  kind: z.enum(['committed', 'active', 'view']),
  parent: z.string().optional(),
  created: z.string(),
  labels: z.record(z.string()).default({}),
});
export type SnapshotInfo = z.infer<typeof SnapshotInfoSchema>;
export type SnapshotKind = SnapshotInfo['kind'];

export interface SnapshotterOptions {
  root: string;
  /** `auto` picks overlay where the kernel mounts it on `root`, else copy. */
  driver?: DriverName | 'auto';
}

/** Snapshot keys this package creates for its own short-lived work; removed on repair. */
const EXTRACT_PREFIX = 'extract-';

/**
 * Label of an active snapshot whose files are hard links shared with a committed layer (see
 * {@link Snapshotter.copyLayer}): it gets files of its own before it is next mounted.
 */
const SHARED_LABEL = 'tsctr.shared-inodes';

/**
 * A snapshotter in containerd's sense: committed (read-only) layers form chains; an active
 * snapshot is a writable layer on top of a chain; a view is a read-only one. It hands out
 * mounts and never mounts anything itself.
 */
export class Snapshotter {
  private readonly metaDir: string;
  private readonly snapshots = new Map<string, SnapshotInfo>();
  /** Per active snapshot: the last work on its files (copyLayer, unshare), run one at a time. */
  private readonly sharing = new Map<string, Promise<unknown>>();

  private constructor(
    readonly root: string,
    readonly driver: StorageDriver,
  ) {
    this.metaDir = join(root, 'metadata');
  }

  static async open(options: SnapshotterOptions): Promise<Snapshotter> {
    let name = options.driver ?? 'auto';
    await mkdir(options.root, { recursive: true });
    if (name === 'auto') name = (await overlaySupported(options.root)) ? 'overlay' : 'copy';
    const dataRoot = join(options.root, name);
    await mkdir(dataRoot, { recursive: true });
    const driver = name === 'overlay' ? new OverlayDriver(dataRoot) : new CopyDriver(dataRoot);
    const snapshotter = new Snapshotter(join(options.root, name), driver);
    await snapshotter.load();
    return snapshotter;
  }

  private async load(): Promise<void> {
    await mkdir(this.metaDir, { recursive: true });
    for (const name of await readdir(this.metaDir)) {
      if (!name.endsWith('.json')) continue;
      const parsed = SnapshotInfoSchema.safeParse(
        JSON.parse(await readFile(join(this.metaDir, name), 'utf8').catch(() => 'null')),
      );
      if (parsed.success) this.snapshots.set(parsed.data.key, parsed.data);
      else await rm(join(this.metaDir, name), { force: true });
    }
    // A commit writes the committed record, then removes the active one (same directory): a
    // crash between the two leaves both. The commit happened; the active record goes alone,
    // so that nothing later removes the directory the layer now owns.
    const committedIds = new Set(
      [...this.snapshots.values()].filter((s) => s.kind === 'committed').map((s) => s.id),
    );
    for (const info of [...this.snapshots.values()]) {
      if (info.kind === 'committed' || !committedIds.has(info.id)) continue;
      this.snapshots.delete(info.key);
      await rm(this.metaPath(info.key), { force: true });
    }
  }

  /**
   * Crash repair: drops half-unpacked layers and metadata whose parent vanished, then lets
   * the driver delete directories no snapshot owns. Returns the keys removed.
   */
  async repair(): Promise<string[]> {
    const removed: string[] = [];
    let changed = true;
    while (changed) {
      changed = false;
      for (const info of [...this.snapshots.values()]) {
        const orphan = info.parent !== undefined && !this.snapshots.has(info.parent);
        if (info.key.startsWith(EXTRACT_PREFIX) || orphan) {
          await this.dropSnapshot(info);
          removed.push(info.key);
          changed = true;
        }
      }
    }
    const known = new Set([...this.snapshots.values()].map((s) => s.id));
    known.add('metadata');
    await this.driver.repair(known);
    return removed;
  }

  has(key: string): boolean {
    return this.snapshots.has(key);
  }

  stat(key: string): SnapshotInfo {
    const info = this.snapshots.get(key);
    if (!info) throw new SnapshotError('not-found', `snapshot ${key} does not exist`);
    return info;
  }

  list(): SnapshotInfo[] {
    return [...this.snapshots.values()];
  }

  /** A writable snapshot on top of committed `parent`. */
  async prepare(key: string, parent?: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    return this.createSnapshot(key, parent, 'active', labels);
  }

  /** A read-only snapshot of committed `parent`. */
  async view(key: string, parent?: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    return this.createSnapshot(key, parent, 'view', labels);
  }

  private async createSnapshot(
    key: string,
    parent: string | undefined,
    kind: SnapshotKind,
    labels: Record<string, string>,
  ) {
    if (this.snapshots.has(key)) throw new SnapshotError('already-exists', `snapshot ${key} already exists`);
    if (parent !== undefined && this.stat(parent).kind !== 'committed') {
      throw new SnapshotError('failed-precondition', `parent snapshot ${parent} is not committed`);
    }
    const info: SnapshotInfo = {
      key,
      id: randomBytes(16).toString('hex'),
      kind,
      created: new Date().toISOString(),
      labels,
    };
    if (parent !== undefined) info.parent = parent;
    await this.driver.create(info.id, this.parentIds(parent));
    await this.saveInfo(info);
    return this.mounts(key);
  }

  async mounts(key: string): Promise<Mount[]> {
    if (this.sharing.has(key) || this.stat(key).labels[SHARED_LABEL] !== undefined) await this.unshare(key);
    const info = this.stat(key);
    if (info.kind === 'committed')
      throw new SnapshotError('failed-precondition', `snapshot ${key} is committed; prepare a view`);
    return this.driver.mounts(info.id, this.parentIds(info.parent), info.kind === 'view');
  }

  /**
   * Turns active snapshot `key` into committed snapshot `name`; `parent` gives a parentless
   * layer unpacked ahead of its parent (see `unpackLayer`) the parent it belongs on.
   */
  async commit(
    name: string,
    key: string,
    labels: Record<string, string> = {},
    parent: string | undefined = this.snapshots.get(key)?.parent,
  ): Promise<void> {
    const info = this.stat(key);
    if (info.kind !== 'active')
      throw new SnapshotError('failed-precondition', `snapshot ${key} is not active`);
    if (this.snapshots.has(name))
      throw new SnapshotError('already-exists', `snapshot ${name} already exists`);
    if (parent !== info.parent && (info.parent !== undefined || !this.unpacksLayersIndependently))
      throw new SnapshotError('failed-precondition', `snapshot ${key} cannot change its parent`);
    if (parent !== undefined && this.stat(parent).kind !== 'committed')
      throw new SnapshotError('failed-precondition', `parent snapshot ${parent} is not committed`);
    // A layer is never written: its files may be shared.
    const { [SHARED_LABEL]: _shared, ...own } = info.labels;
    const committed: SnapshotInfo = { ...info, key: name, kind: 'committed', labels: { ...own, ...labels } };
    if (parent !== undefined) committed.parent = parent;
    await this.saveInfo(committed);
    this.snapshots.delete(key);
    await rm(this.metaPath(key), { force: true });
  }

  async remove(key: string): Promise<void> {
    const info = this.stat(key);
    const child = [...this.snapshots.values()].find((s) => s.parent === key);
    if (child)
      throw new SnapshotError(
        'failed-precondition',
        `cannot remove snapshot ${key}: snapshot ${child.key} depends on it`,
      );
    await this.dropSnapshot(info);
  }

  /** The directory holding a snapshot's own changes (its layer). */
  upperDir(key: string): string {
    return this.driver.upperDir(this.stat(key).id);
  }

  /** Committed ancestors of `key` (itself first when committed), nearest first. */
  chain(key: string): SnapshotInfo[] {
    const out: SnapshotInfo[] = [];
    for (let cur: string | undefined = key; cur !== undefined; cur = this.stat(cur).parent)
      out.push(this.stat(cur));
    return out;
  }

  /** Disk space used by the snapshot's own layer. */
  async usage(key: string): Promise<{ size: number; inodes: number }> {
    const dir = this.upperDir(key);
    const { stdout } = await execa('du', ['-s', '--block-size=1', '--inodes', dir], { reject: false });
    const inodes = Number.parseInt(stdout.split('\t')[0] ?? '0', 10) || 0;
    const sizeOut = await execa('du', ['-s', '--block-size=1', dir], { reject: false });
    return { size: Number.parseInt(sizeOut.stdout.split('\t')[0] ?? '0', 10) || 0, inodes };
  }

  /**
   * Whether a layer can be unpacked before its parent exists (overlay: a layer's directory holds
   * only its own changes), so the layers of one image can be unpacked side by side.
   */
  get unpacksLayersIndependently(): boolean {
    return this.driver.name === 'overlay';
  }

  /**
   * Unpacks a layer tarball as a committed snapshot on top of `parent`. The name is chosen
   * once the layer's DiffID is known (`nameFor`, usually its chain ID; it may throw to refuse
   * the layer); when a snapshot of that name already exists the new copy is dropped and the
   * existing one kept. `parent` may be a function resolving to the parent's key once it is
   * committed; with `unpacksLayersIndependently` it is awaited only after the layer is
   * unpacked, otherwise before.
   */
  async unpackLayer(
    parent: string | undefined | (() => Promise<string | undefined>),
    source: Readable,
    nameFor: (result: ApplyLayerResult) => string,
  ): Promise<ApplyLayerResult & { key: string }> {
    const deferred = typeof parent === 'function' && this.unpacksLayersIndependently;
    const tmpKey = `${EXTRACT_PREFIX}${randomBytes(8).toString('hex')}`;
    let result: ApplyLayerResult;
    let key: string;
    let parentKey: string | undefined;
    try {
      if (!deferred) parentKey = typeof parent === 'function' ? await parent() : parent;
      await this.prepare(tmpKey, parentKey);
      result = await applyLayer(source, this.upperDir(tmpKey), { whiteouts: this.driver.whiteouts });
      key = nameFor(result);
      if (deferred) parentKey = await (parent as () => Promise<string | undefined>)();
    } catch (err) {
      source.destroy();
      if (this.snapshots.has(tmpKey)) await this.remove(tmpKey);
      throw err;
    }
    if (this.snapshots.has(key)) {
      await this.remove(tmpKey);
    } else {
      await this.commit(key, tmpKey, { 'tsctr.size': String(result.contentSize) }, parentKey);
    }
    return { ...result, key };
  }

  /**
   * Copies active snapshot `key`'s own changes (overlay: its upper dir as it lies, whiteouts and
   * opaque markers included) into a new parentless snapshot, to be committed on `key`'s parent
   * with {@link commit}: the layer of `docker commit` for a container that lives on, copied by
   * one `cp` beside the walk that writes its tarball instead of unpacked from that tarball after.
   * The snapshot must not change meanwhile (a stopped or paused container). Undefined where
   * layers are not stored on their own (the copy driver): the caller unpacks the tarball.
   *
   * `link` (a snapshot not mounted, as a stopped container's): the copy's files are hard links
   * to the snapshot's, and `key` is marked to get copies of its own before its next mount, so
   * the layer never changes; most such containers are removed, never mounted again.
   */
  async copyLayer(key: string, options: { link?: boolean } = {}): Promise<string | undefined> {
    if (!this.unpacksLayersIndependently) return undefined;
    const source = this.upperDir(key);
    const copyKey = `${EXTRACT_PREFIX}${randomBytes(8).toString('hex')}`;
    await this.prepare(copyKey);
    try {
      await this.exclusive(key, async () => {
        const info = this.stat(key);
        // Marked first: a crash part-way leaves a snapshot that is unshared on its next mount.
        if (options.link && info.labels[SHARED_LABEL] === undefined)
          await this.saveInfo({ ...info, labels: { ...info.labels, [SHARED_LABEL]: 'true' } });
        await copyTree(source, this.upperDir(copyKey), options.link);
      });
    } catch (err) {
      await this.remove(copyKey);
      throw err;
    }
    return copyKey;
  }

  /** Gives active snapshot `key` files of its own, no longer shared with a layer. */
  private unshare(key: string): Promise<void> {
    return this.exclusive(key, async () => {
      if (this.stat(key).labels[SHARED_LABEL] === undefined) return;
      await unshareTree(this.upperDir(key));
      const { [SHARED_LABEL]: _shared, ...labels } = this.stat(key).labels;
      await this.saveInfo({ ...this.stat(key), labels });
    });
  }

  /** Runs `body` once the work on `key`'s files started before it (copyLayer, unshare) is done. */
  private async exclusive<T>(key: string, body: () => Promise<T>): Promise<T> {
    const run = (this.sharing.get(key) ?? Promise.resolve()).then(body);
    const tail = run.catch(() => undefined);
    this.sharing.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.sharing.get(key) === tail) this.sharing.delete(key);
    }
  }

  /** Bytes of content in a committed layer, as recorded when it was unpacked. */
  layerSize(key: string): number {
    return Number(this.stat(key).labels['tsctr.size'] ?? 0);
  }

  /** What changed in snapshot `key` against its parent chain (Docker's `diff`). */
  async changes(key: string): Promise<Change[]> {
    const info = this.stat(key);
    const parents = this.parentIds(info.parent).map((id) => this.driver.upperDir(id));
    if (this.driver.name === 'overlay') return overlayChanges(this.driver.upperDir(info.id), parents);
    return treeChanges(this.driver.upperDir(info.id), parents[0]);
  }

  /**
   * The OCI layer tarball (uncompressed) of snapshot `key`'s own changes, for commit and builds.
   * `idMappings`: the snapshot was mounted with them (a `--userns-remap` container), so its
   * files are stored with host ids, which the tarball turns back into the container's.
   */
  layerTar(
    key: string,
    options: { idMappings?: IdMappings; onDone?: (summary: LayerSummary) => void } = {},
  ): Readable {
    const info = this.stat(key);
    if (this.driver.name === 'overlay')
      return overlayLayerTar(this.driver.upperDir(info.id), options.idMappings, options.onDone);
    const parent = info.parent === undefined ? undefined : this.driver.upperDir(this.stat(info.parent).id);
    return treeLayerTar(this.driver.upperDir(info.id), parent, options.onDone);
  }

  /**
   * Commits active snapshot `key` as layer `name` where it lies (containerd's Commit): its
   * directory is already in a committed layer's form (overlay: the upper dir, whiteouts
   * included; copy: the full tree), so nothing is unpacked again. `contentSize` is the layer's
   * as {@link layerTar} reported it. The snapshot must not be mounted any more, and no longer
   * exists under `key` afterwards.
   */
  async commitInPlace(name: string, key: string, contentSize: number): Promise<void> {
    await this.commit(name, key, { 'tsctr.size': String(contentSize) });
  }

  private parentIds(parent: string | undefined): string[] {
    return parent === undefined ? [] : this.chain(parent).map((s) => s.id);
  }

  private metaPath(key: string): string {
    return join(this.metaDir, `${encodeURIComponent(key)}.json`);
  }

  private async saveInfo(info: SnapshotInfo): Promise<void> {
    await writeFileAtomic(this.metaPath(info.key), JSON.stringify(info));
    this.snapshots.set(info.key, info);
  }

  private async dropSnapshot(info: SnapshotInfo): Promise<void> {
    // Metadata goes first: a crash in between leaves an unowned directory, which repair removes.
    await rm(this.metaPath(info.key), { force: true });
    this.snapshots.delete(info.key);
    await this.driver.remove(info.id);
  }
}

import {
  type ImageStore,
  NoSuchImageError,
  chainIds,
  familiarName,
  formatReference,
  parseReference,
  repositoryName,
} from '@ts-container/image';
import { conflict } from './errors.js';

export interface RemoveImageOptions {
  force?: boolean;
  /** Delete the untagged parents a deleted image leaves without children (default; `noprune` off). */
  prune?: boolean;
  /** IDs of the containers created from the image. */
  usedBy: (id: string) => string[];
  isRunning: (containerId: string) => boolean;
}

/** One line of `docker rmi`'s report: a reference removed or an image (or layer) deleted. */
export interface ImageDeleteEntry {
  Untagged?: string;
  Deleted?: string;
}

export interface ImageRemoval {
  report: ImageDeleteEntry[];
  /** The images deleted, in order, with their layers' chain IDs (bottom first). */
  deleted: Array<{ id: string; layers: string[] }>;
}

/** moby's imageDeleteConflict kinds: hard ones even force cannot override. */
const Conflict = { DependentChild: 1, RunningContainer: 2, ActiveReference: 4, StoppedContainer: 8 } as const;
const HARD_CONFLICTS = Conflict.DependentChild | Conflict.RunningContainer;
const SOFT_CONFLICTS = Conflict.ActiveReference | Conflict.StoppedContainer;

/**
 * `docker rmi` by moby's rules (daemon/images/image_delete.go). By a name: that reference
 * goes (with the repository's digest references once its last tag is gone), and the image
 * is deleted only when no reference is left. By an ID or ID prefix: every reference goes and
 * the image is deleted, which needs `force` when the references span repositories or tags.
 * A deleted image's untagged parents follow unless `prune` is false. Returns Docker's
 * `{Untagged}` / `{Deleted}` entries for references and images, and the layers of each image
 * deleted (the caller frees the layers no one else uses).
 */
export async function removeImage(
  store: ImageStore,
  ref: string,
  options: RemoveImageOptions,
): Promise<ImageRemoval> {
  const id = store.resolve(ref);
  const removal: ImageRemoval = { report: [], deleted: [] };
  const report = removal.report;
  const force = options.force === true;
  let quiet = false;
  if (!isImageIdPrefix(id, ref)) {
    const users = options.usedBy(id);
    if (!force && isSingleReference(store.references(id)) && users.length > 0)
      // Untagging would leave a dangling image behind a container: the user must say so.
      throw conflict(
        `conflict: unable to remove repository reference "${ref}" (must force) - container ${users[0]!.slice(0, 12)} is using its referenced image ${shortId(id)}`,
      );
    const named = parseReference(ref);
    if ((await store.removeReference(formatReference(named))) === undefined) throw new NoSuchImageError(ref);
    report.push({ Untagged: familiarName(named) });
    if (named.digest === undefined) {
      // The repository's last tag is gone: its digest references go with it.
      const repository = repositoryName(named);
      const left = store.references(id).map((r) => parseReference(r, { defaultTag: false }));
      if (!left.some((r) => r.digest === undefined && repositoryName(r) === repository))
        for (const r of left.filter((r) => r.digest !== undefined && repositoryName(r) === repository)) {
          await store.removeReference(formatReference(r));
          report.push({ Untagged: familiarName(r) });
        }
    }
    if (store.references(id).length > 0) return removal;
    quiet = true;
  } else if (isSingleReference(store.references(id))) {
    const found = deleteConflict(
      store,
      id,
      force ? HARD_CONFLICTS : HARD_CONFLICTS | (SOFT_CONFLICTS & ~Conflict.ActiveReference),
      options,
    );
    if (found) throw found.error;
    for (const r of store.references(id)) {
      await store.removeReference(r);
      report.push({ Untagged: familiarName(parseReference(r, { defaultTag: false })) });
    }
  }
  await deleteWithParents(store, id, removal, force, options.prune !== false, quiet, options);
  return removal;
}

/**
 * moby's imageDeleteHelper: deletes the image and its remaining references unless a conflict
 * stands in the way, then its parent when that is left untagged and unused. `quiet` ignores
 * conflicts of an image that is still referenced or used (the parents of a deleted image).
 */
async function deleteWithParents(
  store: ImageStore,
  id: string,
  removal: ImageRemoval,
  force: boolean,
  prune: boolean,
  quiet: boolean,
  options: RemoveImageOptions,
): Promise<void> {
  for (let current: string | undefined = id; current !== undefined && store.has(current); ) {
    const found = deleteConflict(
      store,
      current,
      force ? HARD_CONFLICTS : HARD_CONFLICTS | SOFT_CONFLICTS,
      options,
    );
    if (found) {
      if (quiet && (!isDangling(store, current) || found.used)) return;
      throw found.error;
    }
    const image = await store.get(current);
    for (const r of store.references(current)) {
      await store.removeReference(r);
      removal.report.push({ Untagged: familiarName(parseReference(r, { defaultTag: false })) });
    }
    await store.delete(current);
    removal.report.push({ Deleted: current });
    removal.deleted.push({ id: current, layers: chainIds(image.config.rootfs.diff_ids) });
    const parent: string | undefined = image.record.parent;
    if (!prune) return;
    // Parents are pruned without force, stopping quietly at the first one still needed.
    current = parent;
    force = false;
    quiet = true;
  }
}

/** moby's checkImageDeleteConflict, in its order: children, running, references, stopped. */
function deleteConflict(
  store: ImageStore,
  id: string,
  mask: number,
  options: RemoveImageOptions,
): { error: Error; used: boolean } | undefined {
  const fail = (hard: boolean, used: boolean, why: string) => ({
    used,
    error: conflict(
      `conflict: unable to delete ${shortId(id)} (${hard ? 'cannot be forced' : 'must be forced'}) - ${why}`,
    ),
  });
  if (mask & Conflict.DependentChild && store.children(id).length > 0)
    return fail(true, false, 'image has dependent child images');
  const users = options.usedBy(id);
  const running = users.find((c) => options.isRunning(c));
  if (mask & Conflict.RunningContainer && running !== undefined)
    return fail(true, true, `image is being used by running container ${running.slice(0, 12)}`);
  if (mask & Conflict.ActiveReference && store.references(id).length > 0)
    return fail(false, false, 'image is referenced in multiple repositories');
  const stopped = users.find((c) => !options.isRunning(c));
  if (mask & Conflict.StoppedContainer && stopped !== undefined)
    return fail(false, true, `image is being used by stopped container ${stopped.slice(0, 12)}`);
  return undefined;
}

function isDangling(store: ImageStore, id: string): boolean {
  return store.references(id).length === 0 && store.children(id).length === 0;
}

/** Docker's stringid.TruncateID: 12 hex digits, without `sha256:`. */
function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** moby's isImageIDPrefix: the input names the image by (a prefix of) its ID, not by a reference. */
function isImageIdPrefix(id: string, input: string): boolean {
  return id.startsWith(input) || id.slice(id.indexOf(':') + 1).startsWith(input);
}

/**
 * moby's isSingleReference: at most one tag, and every reference (digests included) in that
 * one repository. An ID then stands for that one name, so rmi by ID needs no force.
 */
function isSingleReference(references: string[]): boolean {
  if (references.length <= 1) return references.length === 1;
  const parsed = references.map((r) => parseReference(r, { defaultTag: false }));
  const tags = parsed.filter((r) => r.digest === undefined);
  if (tags.length > 1) return false;
  const digestRepositories = new Set(parsed.filter((r) => r.digest !== undefined).map(repositoryName));
  return digestRepositories.size === 1 && digestRepositories.has(repositoryName(tags[0] ?? parsed[0]!));
}

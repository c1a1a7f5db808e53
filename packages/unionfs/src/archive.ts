import type { Stats } from 'node:fs';
import { lchown, lstat, readdir, readlink } from 'node:fs/promises';
import { basename, dirname, join, posix, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { ArchiveError, extractArchive, resolveInRoot as resolveAnyInRoot } from '@ts-container/image';
import { SnapshotError } from './errors.js';
import { type IdMappings, OVERFLOW_ID, hostIdOf } from './idmap.js';
import { LayerWriter } from './layer-writer.js';

/** Go's os.FileMode type bits, as the Engine API's X-Docker-Container-Path-Stat carries them. */
const GO_MODE = {
  dir: 2 ** 31,
  symlink: 2 ** 27,
  device: 2 ** 26,
  namedPipe: 2 ** 25,
  socket: 2 ** 24,
  setuid: 2 ** 23,
  setgid: 2 ** 22,
  charDevice: 2 ** 21,
  sticky: 2 ** 20,
} as const;

/** Docker's ContainerPathStat. */
export interface PathStat {
  name: string;
  size: number;
  /** A Go os.FileMode: permission bits plus type bits. */
  mode: number;
  mtime: string;
  /** For a symlink: where it leads, resolved inside the container. */
  linkTarget: string;
}

/** Normalises a container path to an absolute, clean one (`etc//x/../y` → `/etc/y`). */
export function cleanContainerPath(path: string): string {
  return posix.normalize(`/${path}`).replace(/(.)\/$/, '$1');
}

/**
 * Resolves container path `path` to a host path inside `root` (the safe archive module's one
 * implementation); a symlink loop is an invalid argument.
 */
export async function resolveInRoot(root: string, path: string, followLast = true): Promise<string> {
  try {
    return await resolveAnyInRoot(root, cleanContainerPath(path), followLast);
  } catch (err) {
    if (err instanceof ArchiveError) throw new SnapshotError('invalid-argument', err.message);
    throw err;
  }
}

/** The container path of host path `hostPath` inside `root`. */
function containerPathOf(root: string, hostPath: string): string {
  const rel = relative(root, hostPath);
  return rel === '' ? '/' : `/${rel}`;
}

function goMode(st: Stats): number {
  let mode = st.mode & 0o777;
  if (st.mode & 0o4000) mode += GO_MODE.setuid;
  if (st.mode & 0o2000) mode += GO_MODE.setgid;
  if (st.mode & 0o1000) mode += GO_MODE.sticky;
  if (st.isDirectory()) mode += GO_MODE.dir;
  else if (st.isSymbolicLink()) mode += GO_MODE.symlink;
  else if (st.isFIFO()) mode += GO_MODE.namedPipe;
  else if (st.isSocket()) mode += GO_MODE.socket;
  else if (st.isCharacterDevice()) mode += GO_MODE.device + GO_MODE.charDevice;
  else if (st.isBlockDevice()) mode += GO_MODE.device;
  return mode;
}

/** Whether a Go FileMode from a path stat is a directory. */
export function isDirMode(mode: number): boolean {
  return mode >= GO_MODE.dir;
}

function notFound(path: string): SnapshotError {
  return new SnapshotError('not-found', `Could not find the file ${path}`);
}

/** Docker's stat of a container path (lstat semantics; symlinks report where they lead). */
export async function statInRoot(root: string, path: string): Promise<PathStat> {
  const clean = cleanContainerPath(path);
  const host = await resolveInRoot(root, clean, false);
  const st = await lstat(host).catch(() => undefined);
  if (!st) throw notFound(clean);
  let linkTarget = '';
  if (st.isSymbolicLink()) linkTarget = containerPathOf(root, await resolveInRoot(root, clean, true));
  return {
    name: clean === '/' ? '/' : basename(clean),
    size: st.size,
    mode: goMode(st),
    mtime: st.mtime.toISOString(),
    linkTarget,
  };
}

/**
 * A tarball of container path `path` (GET /containers/{id}/archive): its entries are named
 * after the path's last component (`/etc` → `etc/…`); a trailing symlink is archived as the
 * link itself. Nothing is followed outside `root`.
 */
export async function archiveFromRoot(
  root: string,
  path: string,
  options: {
    idMappings?: IdMappings;
    /** The name `root` itself has when `path` is the root (a volume mounted at /vol1: `vol1`). */
    rootName?: string;
  } = {},
): Promise<{ stat: PathStat; tar: Readable }> {
  const stat = await statInRoot(root, path);
  const host = await resolveInRoot(root, cleanContainerPath(path), false);
  const base = stat.name === '/' ? '.' : stat.name;
  const parent = dirname(host);
  const first = basename(host);
  const writer = new LayerWriter(
    parent,
    (rel) => (rel === first ? base : `${base}${rel.slice(first.length)}`),
    options.idMappings,
  );
  const walk = async (rel: string) => {
    const st = await writer.add(rel);
    if (!st.isDirectory()) return;
    for (const name of (await readdir(join(parent, rel))).sort()) await walk(`${rel}/${name}`);
  };
  if (host === root) {
    // The root itself: archive its contents under `.` (or under its name, with its own entry).
    const top = options.rootName ?? '.';
    const rootWriter = new LayerWriter(
      root,
      (rel) => (rel === '' ? top : `${top}/${rel}`),
      options.idMappings,
    );
    const walkRoot = async (rel: string) => {
      if (rel === '' && options.rootName !== undefined) await rootWriter.add('');
      for (const name of (await readdir(join(root, rel))).sort()) {
        const child = rel === '' ? name : `${rel}/${name}`;
        const st = await rootWriter.add(child);
        if (st.isDirectory()) await walkRoot(child);
      }
    };
    return { stat, tar: rootWriter.stream(() => walkRoot(''), root) };
  }
  return { stat, tar: writer.stream(() => walk(first), host) };
}

export interface ExtractOptions {
  /** Keep the archive's uid/gid (`docker cp -a`); otherwise files belong to root. */
  copyUIDGID?: boolean;
  /**
   * The container's id mappings (`--userns-remap`): what is written belongs to the host ids
   * of those owners, so that the container sees root (or the archive's owners) as its own.
   */
  idMappings?: IdMappings;
}

/**
 * Unpacks tarball `source` into container directory `path` (PUT /containers/{id}/archive).
 * The destination must be an existing directory; every entry is resolved inside `root`, so
 * symlinks in the container (or in the archive) cannot place files on the host.
 */
export async function extractToRoot(
  root: string,
  path: string,
  source: Readable,
  options: ExtractOptions = {},
): Promise<void> {
  const clean = cleanContainerPath(path);
  const host = await resolveInRoot(root, clean, true);
  const st = await lstat(host).catch(() => undefined);
  if (!st) throw notFound(clean);
  if (!st.isDirectory()) throw new SnapshotError('invalid-argument', 'extraction point is not a directory');
  const written: { name: string; uid: number; gid: number }[] = [];
  await extractArchive(source, root, {
    into: relative(root, host),
    whiteouts: 'apply',
    sameOwner: options.copyUIDGID === true,
    ...(options.idMappings
      ? {
          onEntry: (e: { name: string; uid: number; gid: number }) => {
            const keep = options.copyUIDGID === true;
            written.push({ name: e.name, uid: keep ? e.uid : 0, gid: keep ? e.gid : 0 });
          },
        }
      : {}),
  });
  if (options.idMappings) await shiftOwners(root, written, options.idMappings);
}

/** Gives each extracted entry the host ids of its container owner (resolved inside `root`). */
async function shiftOwners(
  root: string,
  entries: readonly { name: string; uid: number; gid: number }[],
  m: IdMappings,
): Promise<void> {
  for (const e of entries) {
    const host = await resolveInRoot(root, cleanContainerPath(`/${e.name}`), false);
    const uid = hostIdOf(m.uidMappings, e.uid) ?? hostIdOf(m.uidMappings, OVERFLOW_ID);
    const gid = hostIdOf(m.gidMappings, e.gid) ?? hostIdOf(m.gidMappings, OVERFLOW_ID);
    if (uid === undefined || gid === undefined) continue;
    await lchown(host, uid, gid).catch((err: NodeJS.ErrnoException) => {
      // A later entry of the same archive may have removed it (a whiteout or a replacement).
      if (err.code !== 'ENOENT') throw err;
    });
  }
}

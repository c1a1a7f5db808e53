import { chown, lstat, mkdir, readdir, rmdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { execa } from 'execa';
import type { UserNamespaceHandle } from './idmap.js';
import { MS_BIND, MS_RDONLY, MS_REMOUNT, idmappedBind, mountSyscall, umountSyscall } from './syscalls.js';

/**
 * What a snapshot needs mounted to appear as a filesystem (containerd's Mount). Storage
 * returns these; whoever owns the mount namespace performs them.
 */
export interface Mount {
  type: 'overlay' | 'bind';
  source: string;
  options: string[];
  /**
   * Directory the mount(2) call must run from: overlay lowerdir entries are short relative
   * links so that deep images fit in the kernel's one-page option limit (as overlay2 does).
   */
  cwd?: string;
}

/** The kernel copies a mount's options into one page. */
const MOUNT_DATA_MAX = 4095;

export interface MountOptions {
  /**
   * Show the layers' files through this user namespace (`--userns-remap`): image layers owned
   * by root appear owned by the container's mapped root, without a copy or chown of any file.
   */
  idmap?: UserNamespaceHandle;
}

/** Mounts `mounts` onto `target`: with mount(2) where it can be called, else util-linux mount(8). */
export async function mountAll(
  mounts: readonly Mount[],
  target: string,
  options: MountOptions = {},
): Promise<void> {
  for (const m of mounts) {
    if (options.idmap) {
      await mountIdmapped(m, target, options.idmap);
      continue;
    }
    if (await mountWithSyscall(m, target)) continue;
    const args =
      m.type === 'bind'
        ? ['--bind', ...(m.options.includes('ro') ? ['-o', 'ro'] : []), m.source, target]
        : ['-t', m.type, '-o', m.options.join(','), m.source, target];
    await execa('mount', args, m.cwd !== undefined ? { cwd: m.cwd } : {});
  }
}

/** True when mount(2) did it; false sends the caller to mount(8), which also explains failures. */
async function mountWithSyscall(m: Mount, target: string): Promise<boolean> {
  if (m.type === 'bind') {
    if (!(await mountSyscall(m.source, target, null, MS_BIND, null))) return false;
    if (!m.options.includes('ro')) return true;
    // A bind mount turns read-only by a remount of its own, as mount(8) does it.
    if (await mountSyscall(null, target, null, MS_BIND | MS_REMOUNT | MS_RDONLY, null)) return true;
    await unmount(target);
    return false;
  }
  // The thread making the call cannot change directory: relative layer directories become
  // absolute, and options that no longer fit the kernel's page go to mount(8), run in `cwd`.
  const absolute = absoluteIn(m.cwd);
  const options = m.options.map((o) => {
    const [key, value] = [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)];
    if (key === 'lowerdir') return `lowerdir=${value.split(':').map(absolute).join(':')}`;
    if (key === 'upperdir' || key === 'workdir') return `${key}=${absolute(value)}`;
    return o;
  });
  const data = options.join(',');
  if (data.length > MOUNT_DATA_MAX) return false;
  return mountSyscall(m.source, target, m.type, 0, data);
}

/** Layer directories of a Mount are relative to its `cwd`: this makes them absolute. */
function absoluteIn(cwd: string | undefined): (dir: string) => string {
  return (dir) => (cwd === undefined || isAbsolute(dir) ? dir : join(cwd, dir));
}

/** Unmounts `target`; an already-unmounted target is fine (repair after a crash calls this blindly). */
export async function unmount(target: string): Promise<void> {
  if (await umountSyscall(target)) return;
  // Nothing mounted there is the usual reason for a failure, and fine.
  if (!(await mountsUnder(target)).includes(target)) return;
  const result = await execa('umount', [target], { reject: false });
  if (result.exitCode !== 0 && !/not mounted|no mount point|not found/i.test(result.stderr)) {
    // A busy mount is detached lazily: the container is gone, stray references will follow.
    const lazy = await execa('umount', ['-l', target], { reject: false });
    if (lazy.exitCode !== 0 && !/not mounted|no mount point|not found/i.test(lazy.stderr)) {
      throw new Error(`unmount ${target}: ${result.stderr.trim()}`);
    }
  }
}

/** Paths currently mounted below `prefix` (from /proc/self/mountinfo). */
export async function mountsUnder(prefix: string): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of info.split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint === undefined) continue;
    const decoded = mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) =>
      String.fromCharCode(Number.parseInt(o, 8)),
    );
    if (decoded === prefix || decoded.startsWith(`${prefix}/`)) out.push(decoded);
  }
  return out;
}

/**
 * An overlay whose lower layers are idmapped bind mounts, each made in a scratch directory next
 * to `target` and detached once the overlay holds it (overlayfs keeps private clones of its
 * layers). The upper layer stays a plain directory: what the container writes is stored with
 * host ids, and its root is handed to the mapped root so that the container's root owns `/`.
 */
async function mountIdmapped(m: Mount, target: string, userns: UserNamespaceHandle): Promise<void> {
  const absolute = absoluteIn(m.cwd);
  if (m.type === 'bind') {
    idmappedBind(m.source, target, userns.fd, m.options.includes('ro'));
    return;
  }
  const scratch = join(dirname(target), `.idmapped-${basename(target)}`);
  // Left by a crash between the two steps below: detach and start again.
  await removeScratch(scratch);
  await mkdir(scratch, { recursive: true });
  try {
    const options: string[] = [];
    for (const o of m.options) {
      const eq = o.indexOf('=');
      const [key, value] = eq < 0 ? [o, ''] : [o.slice(0, eq), o.slice(eq + 1)];
      if (key === 'lowerdir') {
        const lowers = value.split(':').map(absolute);
        const names: string[] = [];
        for (const [i, lower] of lowers.entries()) {
          await mkdir(join(scratch, String(i)));
          idmappedBind(lower, join(scratch, String(i)), userns.fd);
          names.push(String(i));
        }
        // Relative to the scratch directory, where mount(8) runs: short enough for deep images.
        options.push(`lowerdir=${names.join(':')}`);
      } else if (key === 'upperdir' || key === 'workdir') {
        const dir = absolute(value);
        if (key === 'upperdir') await ownRootBy(dir, userns.rootOwner);
        options.push(`${key}=${dir}`);
      } else options.push(o);
    }
    const data = options.join(',');
    const withAbsoluteLowers = data.replace(
      /(^|,)lowerdir=([^,]*)/,
      (_, lead: string, names: string) =>
        `${lead}lowerdir=${names
          .split(':')
          .map((n) => join(scratch, n))
          .join(':')}`,
    );
    if (
      withAbsoluteLowers.length > MOUNT_DATA_MAX ||
      !(await mountSyscall(m.source, target, m.type, 0, withAbsoluteLowers))
    ) {
      await execa('mount', ['-t', m.type, '-o', data, m.source, target], { cwd: scratch });
    }
  } finally {
    await removeScratch(scratch);
  }
}

/**
 * Detaches the idmapped layers in `scratch` and removes its (then empty) directories. Never a
 * recursive delete: a layer still mounted there would be the image's own files.
 */
async function removeScratch(scratch: string): Promise<void> {
  for (const mounted of (await mountsUnder(scratch)).reverse()) {
    if (mounted !== scratch) await umountSyscall(mounted, MNT_DETACH);
  }
  const entries = await readdir(scratch).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!entries) return;
  for (const name of entries) await rmdir(join(scratch, name));
  await rmdir(scratch);
}

const MNT_DETACH = 2;

/** Gives a fresh upper layer's root to the mapped root (one that was chowned before stays). */
async function ownRootBy(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  const st = await lstat(dir);
  if (st.uid === 0 && st.gid === 0) await chown(dir, owner.uid, owner.gid);
}

import { isAbsolute, join } from 'node:path';
import { execa } from 'execa';
import { MS_BIND, MS_RDONLY, MS_REMOUNT, mountSyscall, umountSyscall } from './syscalls.js';

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

/** Mounts `mounts` onto `target`: with mount(2) where it can be called, else util-linux mount(8). */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  for (const m of mounts) {
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
  const cwd = m.cwd;
  const absolute = (dir: string) => (cwd === undefined || isAbsolute(dir) ? dir : join(cwd, dir));
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

import { execa } from 'execa';

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

/** Mounts `mounts` onto `target` with util-linux mount(8). */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  for (const m of mounts) {
    const args =
      m.type === 'bind'
        ? ['--bind', ...(m.options.includes('ro') ? ['-o', 'ro'] : []), m.source, target]
        : ['-t', m.type, '-o', m.options.join(','), m.source, target];
    await execa('mount', args, m.cwd !== undefined ? { cwd: m.cwd } : {});
  }
}

/** Unmounts `target`; an already-unmounted target is fine (repair after a crash calls this blindly). */
export async function unmount(target: string): Promise<void> {
  // Reading mountinfo costs far less than starting umount for the usual "nothing there".
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

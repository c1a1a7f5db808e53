import { createRequire } from 'node:module';

/**
 * mount(2) and umount2(2) called in libc through koffi, an FFI library that ships prebuilt
 * binaries (nothing to compile at install), on libuv's thread pool so the event loop never
 * waits on the kernel. Measured here (packages/unionfs/bench): an overlay mount takes 0.4-1.4 ms
 * and its unmount 2-3 ms this way, against 9-10 ms each for util-linux mount(8)/umount(8),
 * whose fork also stalls a daemon's event loop for 5-12 ms.
 *
 * The calls report success or failure only: errno belongs to the pool thread that made the
 * call. On failure the callers run the util-linux tool, which either succeeds or explains.
 */
interface LibcMounts {
  mount: AsyncCall<[string | null, string, string | null, number, string | null]>;
  umount2: AsyncCall<[string, number]>;
}

type AsyncCall<A extends unknown[]> = {
  async(...args: [...A, (err: unknown, result: number) => void]): void;
};

export const MS_RDONLY = 0x1;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;

let libc: LibcMounts | undefined;
/** Why the syscalls are not used (koffi missing or unloadable, or turned off), once known. */
let unavailable: string | undefined;

function loadLibc(): LibcMounts | undefined {
  if (libc || unavailable) return libc;
  if (process.platform !== 'linux') {
    unavailable = `mount(2) is Linux only (${process.platform})`;
  } else if (process.env.TSCTR_MOUNT_TOOLS === '1') {
    unavailable = 'TSCTR_MOUNT_TOOLS=1: util-linux mount(8)/umount(8) only';
  } else {
    try {
      const koffi = createRequire(import.meta.url)('koffi') as {
        load(name: string): { func(signature: string): unknown };
      };
      const lib = koffi.load('libc.so.6');
      libc = {
        mount: lib.func(
          'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
        ) as LibcMounts['mount'],
        umount2: lib.func('int umount2(const char *target, int flags)') as LibcMounts['umount2'],
      };
    } catch (err) {
      unavailable = `koffi could not load libc: ${(err as Error).message}`;
    }
  }
  return libc;
}

/** Why mounts go through the util-linux tools instead of the syscalls, or undefined when they do not. */
export function mountSyscallsUnavailable(): string | undefined {
  loadLibc();
  return unavailable;
}

function call<A extends unknown[]>(fn: AsyncCall<A>, args: A): Promise<boolean> {
  return new Promise((resolve) => {
    fn.async(...args, (err: unknown, result: number) => resolve(err === null && result === 0));
  });
}

/** mount(2); resolves false when it failed or cannot be called (the caller falls back to mount(8)). */
export function mountSyscall(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null,
): Promise<boolean> {
  const lib = loadLibc();
  if (!lib) return Promise.resolve(false);
  return call(lib.mount, [source, target, fstype, flags, data]);
}

/** umount2(2); resolves false when it failed or cannot be called. */
export function umountSyscall(target: string, flags = 0): Promise<boolean> {
  const lib = loadLibc();
  if (!lib) return Promise.resolve(false);
  return call(lib.umount2, [target, flags]);
}

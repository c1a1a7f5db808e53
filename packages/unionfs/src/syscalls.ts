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
  /** The new mount API (glibc 2.36+, Linux 5.12+); undefined where libc lacks it. */
  mountApi?: {
    openTree(dfd: number, path: string, flags: number): number;
    mountSetattr(dfd: number, path: string, flags: number, attr: MountAttr, size: number): number;
    moveMount(fromDfd: number, fromPath: string, toDfd: number, toPath: string, flags: number): number;
    close(fd: number): number;
    errno(): number;
  };
}

interface MountAttr {
  attr_set: number;
  attr_clr: number;
  propagation: number;
  userns_fd: number;
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
/** Why the new mount API cannot be called, once known. */
let noMountApi: string | undefined;

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
        struct(name: string, fields: Record<string, string>): unknown;
        errno(): number;
      };
      const lib = koffi.load('libc.so.6');
      libc = {
        mount: lib.func(
          'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
        ) as LibcMounts['mount'],
        umount2: lib.func('int umount2(const char *target, int flags)') as LibcMounts['umount2'],
      };
      try {
        koffi.struct('mount_attr', {
          attr_set: 'uint64',
          attr_clr: 'uint64',
          propagation: 'uint64',
          userns_fd: 'uint64',
        });
        type Fn<A extends unknown[]> = (...args: A) => number;
        libc.mountApi = {
          openTree: lib.func('int open_tree(int dfd, const char *path, unsigned int flags)') as Fn<
            [number, string, number]
          >,
          mountSetattr: lib.func(
            'int mount_setattr(int dfd, const char *path, unsigned int flags, mount_attr *attr, size_t size)',
          ) as Fn<[number, string, number, MountAttr, number]>,
          moveMount: lib.func(
            'int move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags)',
          ) as Fn<[number, string, number, string, number]>,
          close: lib.func('int close(int fd)') as Fn<[number]>,
          errno: () => koffi.errno(),
        };
      } catch (err) {
        // An older libc (before 2.36) has no wrappers: idmapped mounts are then unavailable.
        noMountApi = `libc has no open_tree/mount_setattr (glibc 2.36 or later is needed): ${(err as Error).message}`;
      }
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

interface LibcXattrs {
  llistxattr(path: string, list: Buffer, size: number): number;
  lgetxattr(path: string, name: string, value: Buffer, size: number): number;
  errno(): number;
}

/** null: koffi cannot be loaded here (getfattr(1) is used instead). */
let xattrCalls: LibcXattrs | null | undefined;
const ERANGE = 34;

function loadXattrCalls(): LibcXattrs | null {
  if (xattrCalls !== undefined) return xattrCalls;
  xattrCalls = null;
  if (process.platform !== 'linux') return null;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as {
      load(name: string): { func(s: string): unknown };
      errno(): number;
    };
    const lib = koffi.load('libc.so.6');
    xattrCalls = {
      llistxattr: lib.func(
        'long llistxattr(const char *path, _Out_ uint8_t *list, size_t size)',
      ) as LibcXattrs['llistxattr'],
      lgetxattr: lib.func(
        'long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)',
      ) as LibcXattrs['lgetxattr'],
      errno: () => koffi.errno(),
    };
  } catch {
    // No FFI here: readXattrs runs getfattr(1), which gives the same answers.
  }
  return xattrCalls;
}

let xattrBuffer = Buffer.alloc(1024);

/** Calls `read` with a buffer large enough for its answer (sizes queried again on ERANGE). */
function readSized(read: (buf: Buffer, size: number) => number, errno: () => number): Buffer | undefined {
  for (;;) {
    const n = read(xattrBuffer, xattrBuffer.length);
    if (n >= 0) return Buffer.from(xattrBuffer.subarray(0, n));
    if (errno() !== ERANGE) return undefined;
    const needed = read(Buffer.alloc(0), 0);
    if (needed < 0) return undefined;
    xattrBuffer = Buffer.alloc(Math.max(needed, xattrBuffer.length * 2));
  }
}

/**
 * The extended attributes of `path` itself (a symlink's own), read in-process: llistxattr(2)
 * and lgetxattr(2), a few microseconds each. Empty when it has none or they cannot be read (as
 * getfattr skips such files); undefined when the calls are not available here.
 */
export function lxattrs(path: string): Map<string, Buffer> | undefined {
  const lib = loadXattrCalls();
  if (!lib) return undefined;
  const errno = lib.errno;
  const out = new Map<string, Buffer>();
  const list = readSized((b, n) => lib.llistxattr(path, b, n), errno);
  if (!list || list.length === 0) return out;
  // Sorted as getfattr lists them: the order of a layer's pax records.
  for (const name of list.toString('utf8').split('\0').sort()) {
    if (name === '') continue;
    const value = readSized((b, n) => lib.lgetxattr(path, name, b, n), errno);
    if (value !== undefined) out.set(name, value);
  }
  return out;
}

const AT_FDCWD = -100;
const AT_EMPTY_PATH = 0x1000;
const OPEN_TREE_CLONE = 1;
const OPEN_TREE_CLOEXEC = 0o2000000;
const MOUNT_ATTR_RDONLY = 0x1;
const MOUNT_ATTR_IDMAP = 0x100000;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const MOUNT_ATTR_SIZE_VER0 = 32;

/** Why idmapped mounts cannot be made here, or undefined when they can. */
export function idmappedMountsUnavailable(): string | undefined {
  const lib = loadLibc();
  if (!lib) return unavailable;
  if (!lib.mountApi) return noMountApi ?? 'libc has no open_tree/mount_setattr';
  return undefined;
}

/**
 * Bind-mounts `source` on `target` as an idmapped mount: file owners on disk are shown (and
 * written back) through the user namespace `usernsFd`, so an image layer owned by root appears
 * owned by the container's mapped root without a chown of any file (Linux 5.12+, overlayfs
 * layers from 5.19). Made with the new mount API, which has no util-linux tool in Debian 12.
 */
export function idmappedBind(source: string, target: string, usernsFd: number, readonly = false): void {
  const lib = loadLibc();
  const api = lib?.mountApi;
  if (!api) throw new Error(`idmapped mount of ${source}: ${idmappedMountsUnavailable()}`);
  const fail = (step: string): never => {
    const errno = api.errno();
    throw new Error(`idmapped mount of ${source} on ${target}: ${step}: ${errnoName(errno)}`);
  };
  const fd = api.openTree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) fail('open_tree');
  try {
    const attr = {
      attr_set: MOUNT_ATTR_IDMAP | (readonly ? MOUNT_ATTR_RDONLY : 0),
      attr_clr: 0,
      propagation: 0,
      userns_fd: usernsFd,
    };
    if (api.mountSetattr(fd, '', AT_EMPTY_PATH, attr, MOUNT_ATTR_SIZE_VER0) !== 0) fail('mount_setattr');
    if (api.moveMount(fd, '', AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) !== 0) fail('move_mount');
  } finally {
    api.close(fd);
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'operation not permitted',
  2: 'no such file or directory',
  13: 'permission denied',
  16: 'device or resource busy',
  22: 'invalid argument (the filesystem may not support idmapped mounts)',
  38: 'function not implemented (Linux 5.12 or later is needed)',
};

function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

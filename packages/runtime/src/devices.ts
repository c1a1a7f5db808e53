import { stat } from 'node:fs/promises';
import { RuntimeError } from './errors.js';
import type { DeviceSpec } from './spec-input.js';

/**
 * Describes a host device node for a container (`--device HOST[:CONTAINER[:PERMISSIONS]]`):
 * its type and numbers from the host, so the runtime can create it and allow it in the
 * device cgroup.
 */
export async function hostDevice(
  hostPath: string,
  containerPath = hostPath,
  access = 'rwm',
): Promise<DeviceSpec> {
  const st = await stat(hostPath).catch((err: NodeJS.ErrnoException) => {
    throw new RuntimeError(
      'invalid-parameter',
      `error gathering device information while adding custom device "${hostPath}": ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`,
    );
  });
  if (!st.isCharacterDevice() && !st.isBlockDevice())
    throw new RuntimeError(
      'invalid-parameter',
      `error gathering device information while adding custom device "${hostPath}": not a device node`,
    );
  // Linux dev_t: major in bits 8-19 (and 32+), minor in bits 0-7 and 20-31.
  const rdev = st.rdev;
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & 0xfff00) >>> 0);
  if (!/^[rwm]{1,3}$/.test(access))
    throw new RuntimeError('invalid-parameter', `invalid device cgroup permissions: ${access}`);
  return {
    path: containerPath,
    type: st.isCharacterDevice() ? 'c' : 'b',
    major,
    minor,
    fileMode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    access,
  };
}

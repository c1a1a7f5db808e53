import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MountPoint } from './container-store.js';
import { ensureBindSource, mountHolding } from './mount-points.js';
import { resolveUser } from './user.js';

const point = (Type: MountPoint['Type'], Destination: string): MountPoint => ({
  Type,
  Source: `/host${Destination}`,
  Destination,
  Mode: '',
  RW: true,
  Propagation: '',
  NoCopy: false,
  Options: [],
});

describe('mountHolding', () => {
  const points = [point('volume', '/data'), point('bind', '/data/sub'), point('tmpfs', '/run/t')];

  it('finds the deepest mount holding a container path, and the path inside it', () => {
    expect(mountHolding(points, '/data')).toMatchObject({ point: { Destination: '/data' }, inner: '/' });
    expect(mountHolding(points, 'data/x/../y.txt')).toMatchObject({
      point: { Destination: '/data' },
      inner: '/y.txt',
    });
    expect(mountHolding(points, '/data/sub/f')).toMatchObject({
      point: { Destination: '/data/sub' },
      inner: '/f',
    });
    expect(mountHolding(points, '/data/sub/')).toMatchObject({
      point: { Destination: '/data/sub' },
      inner: '/',
    });
  });

  it('leaves paths outside every mount (and tmpfs mounts) to the root filesystem', () => {
    expect(mountHolding(points, '/database')).toBeUndefined();
    expect(mountHolding(points, '/')).toBeUndefined();
    expect(mountHolding(points, '/run/t/x')).toBeUndefined();
  });
});

describe('bind sources and groups', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsctr-mount-points-'));
    await mkdir(join(dir, 'etc'));
    await writeFile(
      join(dir, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n',
    );
    await writeFile(join(dir, 'etc/group'), 'root:x:0:\nwheel:x:10:root\nstaff:x:50:app\napp:x:1000:\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a single-file bind source a file, and makes a missing one a directory', async () => {
    const file = join(dir, 'app.conf');
    await writeFile(file, 'x');
    await ensureBindSource(file);
    expect((await stat(file)).isFile()).toBe(true);
    await ensureBindSource(join(dir, 'new/dir'));
    expect((await stat(join(dir, 'new/dir'))).isDirectory()).toBe(true);
  });

  it('gives root its /etc/group groups when no user is set, then GroupAdd by number or name', async () => {
    expect(await resolveUser(dir, '')).toEqual({ uid: 0, gid: 0, additionalGids: [10] });
    expect(await resolveUser(dir, 'app', ['1001', 'wheel'])).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [50, 1001, 10],
    });
    // A symlinked /etc/group is followed inside the container's root, never on the host.
    const linked = join(dir, 'linked');
    await mkdir(join(linked, 'etc'), { recursive: true });
    await mkdir(join(linked, 'data'));
    await writeFile(join(linked, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await writeFile(join(linked, 'data/group'), 'grp:x:77:root\n');
    await symlink('/data/group', join(linked, 'etc/group'));
    expect((await resolveUser(linked, '')).additionalGids).toEqual([77]);
    await expect(resolveUser(dir, '', ['nosuch'])).rejects.toThrow(
      'Unable to find group nosuch: no matching entries in group file',
    );
  });
});

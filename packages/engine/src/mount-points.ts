import { mkdir, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, posix } from 'node:path';
import type { ContainerConfig, HostConfig } from '@ts-container/api';
import type { Logger } from '@ts-container/common';
import { resolveInRoot } from '@ts-container/image';
import { execa } from 'execa';
import type { ContainerRecord, MountPoint } from './container-store.js';
import { EngineError, invalidParameter } from './errors.js';
import type { VolumeService } from './volumes.js';

/**
 * Turns a create request's `-v`, `--mount`, `--tmpfs`, `--volumes-from` and the image's VOLUMEs
 * into the container's mount points, creating the volumes they name (named ones when missing,
 * anonymous ones for `-v /path` and VOLUME), as Docker does at `create`.
 */
export async function resolveMountPoints(
  config: ContainerConfig,
  hostConfig: HostConfig,
  volumes: VolumeService,
  containerByRef: (ref: string) => ContainerRecord,
): Promise<MountPoint[]> {
  const points = new Map<string, MountPoint>();
  const add = (p: MountPoint) => {
    const destination = posix.normalize(p.Destination);
    if (!destination.startsWith('/'))
      throw invalidParameter(`invalid mount config: mount path must be absolute: ${p.Destination}`);
    if (points.has(destination)) throw invalidParameter(`Duplicate mount point: ${destination}`);
    points.set(destination, { ...p, Destination: destination });
  };

  // --volumes-from first: the container's own mounts may not shadow them silently.
  for (const spec of hostConfig.VolumesFrom ?? []) {
    const [ref = '', mode] = spec.split(':');
    if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw invalidParameter(`invalid mode: ${mode}`);
    for (const p of containerByRef(ref).MountPoints)
      add({ ...p, RW: mode === undefined ? p.RW : mode === 'rw', Mode: mode ?? p.Mode });
  }

  for (const bind of hostConfig.Binds ?? []) {
    const parts = bind.split(':');
    if (parts.length < 2 || parts.length > 3 || parts[0] === '' || parts[1] === '')
      throw invalidParameter(`invalid volume specification: '${bind}'`);
    const [source = '', destination = '', mode = ''] = parts;
    const flags = mode.split(',').filter(Boolean);
    for (const f of flags)
      if (
        ![
          'ro',
          'rw',
          'z',
          'Z',
          'nocopy',
          'private',
          'rprivate',
          'shared',
          'rshared',
          'slave',
          'rslave',
        ].includes(f)
      )
        throw invalidParameter(`invalid mode: ${mode}`);
    const common = {
      Destination: destination,
      Mode: mode,
      RW: !flags.includes('ro'),
      Propagation: flags.find((f) => /private|shared|slave/.test(f)) ?? '',
      NoCopy: flags.includes('nocopy'),
      Options: [],
    };
    if (isAbsolute(source)) {
      // Docker creates a missing bind source directory (for -v, not for --mount); an existing
      // file is bound as it is.
      await ensureBindSource(source);
      add({ Type: 'bind', Source: source, ...common, Propagation: common.Propagation || 'rprivate' });
    } else {
      await volumes.create({ Name: source });
      add({ Type: 'volume', Name: source, Source: volumes.dataDir(source), ...common, Mode: mode || 'z' });
    }
  }

  for (const m of hostConfig.Mounts ?? []) {
    const target = m.Target;
    const readOnly = m.ReadOnly ?? false;
    if (m.Type === 'bind') {
      if (!m.Source || !isAbsolute(m.Source))
        throw invalidParameter('invalid mount config for type "bind": invalid mount path');
      const exists = await stat(m.Source).then(
        () => true,
        () => false,
      );
      if (!exists)
        throw invalidParameter(
          `invalid mount config for type "bind": bind source path does not exist: ${m.Source}`,
        );
      add({
        Type: 'bind',
        Source: m.Source,
        Destination: target,
        Mode: '',
        RW: !readOnly,
        Propagation: 'rprivate',
        NoCopy: false,
        Options: [],
      });
    } else if (m.Type === 'volume') {
      const v = await volumes.create({
        ...(m.Source ? { Name: m.Source } : {}),
        ...(m.VolumeOptions?.Labels ? { Labels: m.VolumeOptions.Labels } : {}),
        ...(m.VolumeOptions?.DriverConfig?.Options
          ? { DriverOpts: m.VolumeOptions.DriverConfig.Options }
          : {}),
        anonymous: !m.Source,
      });
      add({
        Type: 'volume',
        Name: v.Name,
        Source: v.Mountpoint,
        Destination: target,
        Mode: 'z',
        RW: !readOnly,
        Propagation: '',
        NoCopy: m.VolumeOptions?.NoCopy ?? false,
        Options: [],
      });
    } else if (m.Type === 'tmpfs') {
      const options = [
        ...(m.TmpfsOptions?.SizeBytes ? [`size=${m.TmpfsOptions.SizeBytes}`] : []),
        ...(m.TmpfsOptions?.Mode ? [`mode=${m.TmpfsOptions.Mode.toString(8)}`] : []),
      ];
      add({
        Type: 'tmpfs',
        Source: '',
        Destination: target,
        Mode: '',
        RW: !readOnly,
        Propagation: '',
        NoCopy: false,
        Options: options,
      });
    } else {
      throw invalidParameter(`invalid mount config: mount type unknown: "${m.Type}"`);
    }
  }

  for (const [path, options] of Object.entries(hostConfig.Tmpfs ?? {}))
    add({
      Type: 'tmpfs',
      Source: '',
      Destination: path,
      Mode: '',
      RW: !options.split(',').includes('ro'),
      Propagation: '',
      NoCopy: false,
      Options: options.split(',').filter((o) => o !== '' && o !== 'ro' && o !== 'rw'),
    });

  // `-v /path` and the image's VOLUMEs: an anonymous volume where nothing else is mounted.
  for (const path of Object.keys(config.Volumes ?? {})) {
    const destination = posix.normalize(path);
    if (points.has(destination)) continue;
    const v = await volumes.create({ anonymous: true });
    add({
      Type: 'volume',
      Name: v.Name,
      Source: v.Mountpoint,
      Destination: destination,
      Mode: '',
      RW: true,
      Propagation: '',
      NoCopy: false,
      Options: [],
    });
  }
  return [...points.values()];
}

/**
 * Docker's copy-up: an empty volume mounted over a directory of the image starts with a copy
 * of that directory (ownership and modes kept), unless `nocopy` was asked for.
 */
export async function copyUpIntoVolume(rootfs: string, p: MountPoint, volumeDir: string): Promise<void> {
  if (p.NoCopy) return;
  if ((await readdir(volumeDir)).length > 0) return;
  // Resolved inside the rootfs: an image's `/data -> /etc` must not copy the host's /etc.
  const from = await resolveInRoot(rootfs, p.Destination);
  const isDir = await stat(from).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) return;
  // cp -a keeps owners, modes, times, links and xattrs (Node's fs.cp keeps no owners).
  const r = await execa('cp', ['-a', '--', `${from}/.`, volumeDir], { reject: false });
  if (r.exitCode !== 0)
    throw new EngineError('system', `copying ${p.Destination} into its volume: ${r.stderr.trim()}`);
}

/**
 * The mount that holds container path `path` (the deepest one whose destination contains it),
 * and the path inside it: `docker cp` reads and writes volumes and binds, as Docker does.
 * tmpfs mounts live only in the container's mount namespace: not reachable from here.
 */
export function mountHolding(
  points: readonly MountPoint[],
  path: string,
): { point: MountPoint; inner: string } | undefined {
  const clean = posix.normalize(`/${path}`).replace(/(.)\/$/, '$1');
  let best: MountPoint | undefined;
  for (const p of points) {
    if (p.Type === 'tmpfs') continue;
    const d = p.Destination;
    const holds = clean === d || clean.startsWith(d === '/' ? '/' : `${d}/`);
    if (holds && (!best || d.length > best.Destination.length)) best = p;
  }
  if (!best) return undefined;
  return { point: best, inner: `/${posix.relative(best.Destination, clean)}` };
}

/** A `-v` bind source: kept when it exists (a directory or a single file), else a new directory. */
export async function ensureBindSource(source: string): Promise<void> {
  const exists = await stat(source).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
  if (!exists) await mkdir(source, { recursive: true });
}

/**
 * `rm -v` (and `--rm`): the container's anonymous volumes go with it; named ones stay, and so
 * do those another container still mounts (`--volumes-from`). A failure is logged, not thrown.
 */
export async function removeAnonymousVolumes(
  c: ContainerRecord,
  volumes: Pick<VolumeService, 'has' | 'record' | 'remove'>,
  inUse: (name: string) => boolean,
  logger: Logger,
): Promise<void> {
  for (const p of c.MountPoints) {
    if (p.Type !== 'volume' || !p.Name || !volumes.has(p.Name)) continue;
    if (!volumes.record(p.Name).Anonymous) continue;
    if (inUse(p.Name)) continue;
    await volumes
      .remove(p.Name, [])
      .catch((e: unknown) => logger.warn(`remove volume ${p.Name}: ${String(e)}`));
  }
}

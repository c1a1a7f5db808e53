import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerCreateRequest } from '@ts-container/api';
import type { ImageRunConfig } from '@ts-container/image';
import type { ContainerRuntime } from '@ts-container/runtime';
import type { IdMappings, Snapshotter } from '@ts-container/unionfs';
import { type ContainerRecord, type ContainerStore, emptyState } from './container-store.js';
import { conflict, invalidParameter } from './errors.js';
import type { ImageService } from './images.js';
import type { ContainerLifecycle } from './lifecycle.js';
import { checkLinuxOptions, utsHostname } from './linux-options.js';
import { logLimits } from './log-rotation.js';
import { resolveMountPoints } from './mount-points.js';
import { VALID_CONTAINER_NAME, newId, randomContainerName } from './names.js';
import type { ContainerNetworking } from './networking.js';
import type { VolumeService } from './volumes.js';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Docker's default logging driver; `local` and `none` are accepted and logged as json-file. */
const DEFAULT_LOG_DRIVER = 'json-file';
const LOG_DRIVERS = ['json-file', 'local', 'none'];

export interface ContainerCreateDeps {
  store: Pick<ContainerStore, 'nameInUse' | 'get' | 'dir'>;
  images: Pick<ImageService, 'get' | 'markUsed' | 'ensureLayers' | 'topLayer'>;
  snapshotter: Pick<Snapshotter, 'driver' | 'prepare'>;
  runtime: Pick<ContainerRuntime, 'runtimeNamed'>;
  networking: Pick<ContainerNetworking, 'prepare'>;
  volumes: VolumeService;
  lifecycle: Pick<ContainerLifecycle, 'created'>;
  /** `--userns-remap`: new containers run in a user namespace with these mappings. */
  usernsRemap?: IdMappings;
}

/** `docker create`: checks the request, prepares the container's layer, records it and emits `create`. */
export async function createContainer(
  deps: ContainerCreateDeps,
  request: ContainerCreateRequest,
  name?: string,
): Promise<{ Id: string; Warnings: string[] }> {
  if (request.Image === undefined || request.Image === '')
    throw invalidParameter('config cannot be empty in order to create a container');
  let fullName: string;
  if (name !== undefined && name !== '') {
    if (!VALID_CONTAINER_NAME.test(name))
      throw invalidParameter(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    fullName = name.startsWith('/') ? name : `/${name}`;
    const taken = deps.store.nameInUse(fullName);
    if (taken) {
      throw conflict(
        `Conflict. The container name "${fullName}" is already in use by container "${taken.Id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
  } else {
    do fullName = `/${randomContainerName()}`;
    while (deps.store.nameInUse(fullName));
  }
  const image = await deps.images.get(request.Image);
  await deps.images.markUsed(image.record.id);
  const config = mergeConfig(request, image.config.config ?? {});
  const entrypoint = config.Entrypoint as string[] | null | undefined;
  const cmd = config.Cmd as string[] | null | undefined;
  const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (argv.length === 0) throw invalidParameter('no command specified');
  if (
    request.HostConfig?.AutoRemove &&
    request.HostConfig.RestartPolicy &&
    !['', 'no'].includes(request.HostConfig.RestartPolicy.Name)
  ) {
    throw invalidParameter("can't create 'AutoRemove' container with restart policy");
  }
  const linux = await checkLinuxOptions(request, request.HostConfig ?? {}, deps.snapshotter.driver.name);
  const hostConfig = linux.hostConfig;
  // Before anything is made on disk: an unknown network fails `create`, as in Docker.
  const networkSettings = (await deps.networking.prepare?.({ ...request, HostConfig: hostConfig })) ?? {};
  const idMappings = idMappingsFor(hostConfig, deps.usernsRemap);
  // Checked before volumes are made for it: a refused create leaves nothing behind.
  logLimits({ HostConfig: hostConfig }); // bad --log-opt values fail `create`, as in Docker
  const logConfig = {
    Type: hostConfig.LogConfig?.Type || DEFAULT_LOG_DRIVER,
    Config: hostConfig.LogConfig?.Config ?? {},
  };
  if (!LOG_DRIVERS.includes(logConfig.Type))
    throw invalidParameter(`logger: no log driver named '${logConfig.Type}' is registered`);
  // So does an unknown --runtime. docker-py sends `runtime=` beside HostConfig, not in it.
  const topLevelRuntime = (request as { Runtime?: unknown }).Runtime;
  const runtimeName = deps.runtime.runtimeNamed(
    hostConfig.Runtime || (typeof topLevelRuntime === 'string' ? topLevelRuntime : undefined),
  ).info.name;
  const mountPoints = await resolveMountPoints(config, hostConfig, deps.volumes, (ref) =>
    deps.store.get(ref),
  );
  const id = newId();
  config.Hostname = utsHostname(hostConfig) ?? (config.Hostname || id.slice(0, 12));
  config.Image = request.Image;
  const dir = deps.store.dir(id);
  await mkdir(dir, { recursive: true });
  await deps.images.ensureLayers(image.config.rootfs.diff_ids);
  await deps.snapshotter.prepare(id, deps.images.topLayer(image.config), { 'tsctr.container': id });
  const record: ContainerRecord = {
    Id: id,
    Name: fullName,
    Created: new Date().toISOString(),
    Path: argv[0]!,
    Args: argv.slice(1),
    Config: config,
    HostConfig: {
      ...hostConfig,
      LogConfig: logConfig,
      // The runtime it was created with (Docker records the daemon's default at create).
      Runtime: runtimeName,
      NetworkMode:
        !hostConfig.NetworkMode || hostConfig.NetworkMode === 'default' ? 'bridge' : hostConfig.NetworkMode,
    },
    Image: image.record.id,
    State: emptyState(),
    RestartCount: 0,
    StoppedByUser: false,
    Driver: deps.snapshotter.driver.name,
    LogPath: join(dir, `${id}-json.log`),
    HostnamePath: join(dir, 'hostname'),
    HostsPath: join(dir, 'hosts'),
    ResolvConfPath: join(dir, 'resolv.conf'),
    NetworkSettings: networkSettings,
    MountPoints: mountPoints,
    ...(idMappings ? { IdMappings: idMappings } : {}),
  };
  await deps.lifecycle.created(record);
  return { Id: id, Warnings: linux.warnings };
}

/**
 * The user namespace a new container gets: the daemon's `--userns-remap` mappings unless it
 * asks for `--userns=host`; what cannot share a namespace with the host is refused as dockerd
 * refuses it.
 */
function idMappingsFor(
  hc: NonNullable<ContainerCreateRequest['HostConfig']>,
  remap: IdMappings | undefined,
): IdMappings | undefined {
  const mode = hc.UsernsMode ?? '';
  if (mode !== '' && mode !== 'host') throw invalidParameter(`invalid userns mode: ${mode}`);
  if (!remap || mode === 'host') return undefined;
  if (hc.Privileged)
    throw invalidParameter(
      'privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode',
    );
  if (hc.NetworkMode === 'host')
    throw invalidParameter("cannot share the host's network namespace when user namespaces are enabled");
  if (hc.PidMode === 'host')
    throw invalidParameter('cannot share the host PID namespace when user namespaces are enabled');
  return remap;
}

/** Docker's merge of a create request with the image's defaults. */
export function mergeConfig(
  request: ContainerCreateRequest,
  image: ImageRunConfig,
): ContainerRecord['Config'] {
  const {
    HostConfig: _h,
    NetworkingConfig: _n,
    Runtime: _r,
    ...config
  } = request as ContainerCreateRequest & {
    Runtime?: unknown;
  };
  const env = new Map<string, string>();
  for (const e of [...(image.Env ?? [DEFAULT_PATH]), ...(config.Env ?? [])]) env.set(e.split('=')[0]!, e);
  if (![...env.keys()].includes('PATH')) env.set('PATH', DEFAULT_PATH);
  const toArray = (v: string | string[] | null | undefined) => (typeof v === 'string' ? [v] : v);
  const entrypointGiven = config.Entrypoint !== undefined && config.Entrypoint !== null;
  const entrypoint = entrypointGiven ? toArray(config.Entrypoint) : image.Entrypoint;
  let cmd = toArray(config.Cmd);
  // Docker: a new entrypoint on the command line discards the image's CMD.
  if ((cmd === undefined || cmd === null || cmd.length === 0) && !entrypointGiven) cmd = image.Cmd ?? null;
  const merged: ContainerRecord['Config'] = {
    ...config,
    Env: [...env.values()],
    Cmd: cmd && cmd.length > 0 ? cmd : null,
    Entrypoint: entrypoint && entrypoint.length > 0 ? entrypoint : null,
    WorkingDir: config.WorkingDir || image.WorkingDir || '',
    User: config.User || image.User || '',
    Labels: { ...(image.Labels ?? {}), ...(config.Labels ?? {}) },
    ExposedPorts: { ...(image.ExposedPorts ?? {}), ...(config.ExposedPorts ?? {}) },
    Volumes: { ...(image.Volumes ?? {}), ...(config.Volumes ?? {}) },
  };
  const stopSignal = config.StopSignal ?? image.StopSignal;
  if (stopSignal !== undefined) merged.StopSignal = stopSignal;
  if (config.Healthcheck === undefined && image.Healthcheck !== undefined)
    merged.Healthcheck = image.Healthcheck;
  return merged;
}

import { release } from 'node:os';
import { API_VERSION, MIN_API_VERSION } from '@ts-container/api';
import type { ImageSummary } from '@ts-container/api';
import { toolVersion } from '@ts-container/runtime';
import type { ContainerSize } from './changes.js';
import type { ContainerRecord } from './container-store.js';
import { dockerCommandLine } from './containers.js';
import type { Volume } from './volumes.js';

export interface SystemServiceOptions {
  version: string;
  /** The default OCI runtime: its name and binary. */
  runtime: () => { name: string; path: string };
  containers: () => ContainerRecord[];
  sizeOf: (id: string) => Promise<ContainerSize>;
  imageUsage: () => Promise<{ layersSize: number; images: ImageSummary[] }>;
  volumeUsage: () => Promise<Volume[]>;
}

/** Go's name of the architecture (`amd64`), as Docker reports it. */
export function goArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

/** `docker version` (the server part) and `docker system df`. */
export class SystemService {
  constructor(private readonly options: SystemServiceOptions) {}

  async version(): Promise<Record<string, unknown>> {
    const runtime = this.options.runtime();
    const [runtimeVersion, conmonVersion] = await Promise.all([
      toolVersion(runtime.path),
      toolVersion('conmon'),
    ]);
    const version = this.options.version;
    const common = {
      GitCommit: version,
      GoVersion: `node${process.versions.node}`,
      Os: 'linux',
      Arch: goArch(),
      KernelVersion: release(),
    };
    return {
      Platform: { Name: 'ts-container Engine' },
      Components: [
        {
          Name: 'Engine',
          Version: version,
          Details: {
            ApiVersion: API_VERSION,
            MinAPIVersion: MIN_API_VERSION,
            ...common,
            Experimental: 'false',
            BuildTime: '',
          },
        },
        {
          Name: runtime.name,
          Version: runtimeVersion.version,
          Details: { GitCommit: runtimeVersion.commit },
        },
        { Name: 'conmon', Version: conmonVersion.version, Details: { GitCommit: conmonVersion.commit } },
      ],
      Version: version,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      ...common,
      Experimental: false,
      BuildTime: '',
    };
  }

  /** `docker system df`: the sections asked for (`type=image|container|volume|build-cache`), all by default. */
  async diskUsage(types: string[] = []): Promise<Record<string, unknown>> {
    const want = (t: string) => types.length === 0 || types.includes(t);
    const body: Record<string, unknown> = {};
    if (want('image')) {
      const usage = await this.options.imageUsage();
      body.LayersSize = usage.layersSize;
      body.Images = usage.images;
    }
    if (want('container')) {
      const containers = [];
      for (const c of this.options.containers()) {
        // A container removed while the walk runs has no size left to report.
        const size = await this.options.sizeOf(c.Id).catch(() => ({ SizeRw: 0, SizeRootFs: 0 }));
        containers.push({
          Id: c.Id,
          Names: [`/${c.Name.replace(/^\//, '')}`],
          Image: c.Config.Image,
          ImageID: c.Image,
          Command: dockerCommandLine(c.Path, c.Args),
          Created: Math.floor(Date.parse(c.Created) / 1000),
          State: c.State.Status,
          Status: c.State.Status,
          SizeRw: size.SizeRw,
          SizeRootFs: size.SizeRootFs,
          Labels: c.Config.Labels ?? {},
          Mounts: [],
        });
      }
      body.Containers = containers;
    }
    if (want('volume')) body.Volumes = await this.options.volumeUsage();
    if (want('build-cache')) body.BuildCache = [];
    return body;
  }
}

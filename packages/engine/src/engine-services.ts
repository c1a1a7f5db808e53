import type { Logger } from '@ts-container/common';
import type { ImageStore } from '@ts-container/image';
import type { ContainerRuntime } from '@ts-container/runtime';
import type { Snapshotter } from '@ts-container/unionfs';
import type { ContainerSize } from './changes.js';
import { ContainerQueries } from './container-queries.js';
import type { ContainerStore } from './container-store.js';
import type { ContainerService } from './containers.js';
import { EventJournal } from './event-journal.js';
import { ImageBudget, ImageQueries } from './image-queries.js';
import type { ImageService } from './images.js';
import { NetworkService } from './network-service.js';
import type { ContainerNetworking } from './networking.js';
import { SystemService } from './system-service.js';
import { VolumeQueries } from './volume-queries.js';
import type { VolumeService } from './volumes.js';

/** What the services below are built from: the stores and a few operations, never the engine. */
export interface EngineServicesDeps {
  version: string;
  networking: ContainerNetworking;
  imageGcBudget: number | undefined;
  logger: Logger;
  containers: ContainerService;
  containerStore: ContainerStore;
  images: ImageService;
  imageStore: ImageStore;
  snapshotter: Snapshotter;
  runtime: ContainerRuntime;
  volumes: VolumeService;
  sizeOf: (id: string) => Promise<ContainerSize>;
  collectGarbage: () => Promise<{ bytes: number }>;
  assertSwarmManager: () => void;
}

/** The engine's query and maintenance services, as the API layer calls them. */
export interface EngineServices {
  /** `ps` filters, inspect views and prune of containers. */
  containers: ContainerQueries;
  /** The `/networks` API, and network connect/disconnect recorded on the container. */
  networks: NetworkService;
  /** Image list filters, inspect, history and prune. */
  images: ImageQueries;
  /** `EngineOptions.imageGcBudget`: enforced after loads and imports, and every minute. */
  imageBudget: ImageBudget;
  /** Volume list filters, prune and usage. */
  volumes: VolumeQueries;
  /** The event journal behind `docker events`, fed by the container service. */
  events: EventJournal;
  /** `docker version` and `docker system df`. */
  system: SystemService;
}

/** Builds the services, each with only the narrow pieces it uses. */
export function createEngineServices(deps: EngineServicesDeps): EngineServices {
  const { containers, images, runtime } = deps;
  const usedBy = (id: string) => containers.usingImage(id);
  const containerCounts = () => {
    const counts = new Map<string, number>();
    for (const c of deps.containerStore.all()) counts.set(c.Image, (counts.get(c.Image) ?? 0) + 1);
    return counts;
  };
  const events = new EventJournal();
  containers.events.on('event', (e) => events.record(e));
  const networks = new NetworkService({
    networking: deps.networking,
    container: (ref) => containers.get(ref),
    saveNetworkSettings: (id, settings) =>
      deps.containerStore.update(id, (r) => {
        r.NetworkSettings = settings;
      }),
    assertSwarmManager: deps.assertSwarmManager,
  });
  const volumes = new VolumeQueries({
    volumes: deps.volumes,
    usedBy: (name) => containers.usingVolume(name),
  });
  return {
    containers: new ContainerQueries({
      containers,
      imageTags: (id) => deps.imageStore.tagsOf(id),
      sizeOf: deps.sizeOf,
      runtimeName: () => runtime.oci.info.name,
      networkSettings: (c) => networks.displaySettings(c),
    }),
    networks,
    images: new ImageQueries({
      images,
      imageStore: deps.imageStore,
      snapshotter: deps.snapshotter,
      usedBy,
      containerCounts,
      collectGarbage: deps.collectGarbage,
    }),
    imageBudget: ImageBudget.start({
      budget: deps.imageGcBudget,
      images,
      usedBy,
      collectGarbage: deps.collectGarbage,
      onError: (err) => deps.logger.warn(`image gc budget: ${String(err)}`),
    }),
    volumes,
    events,
    system: new SystemService({
      version: deps.version,
      runtime: () => runtime.oci.info,
      containers: () => deps.containerStore.all(),
      sizeOf: deps.sizeOf,
      imageUsage: () => {
        const counts = containerCounts();
        return images.diskUsage((id) => counts.get(id) ?? 0);
      },
      volumeUsage: () => volumes.usage(),
    }),
  };
}

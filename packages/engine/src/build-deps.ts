import type { ContentStore, ImageStore } from '@ts-container/image';
import type { Snapshotter } from '@ts-container/unionfs';
import type { CommitOptions } from './commit.js';
import type { ContainerService } from './containers.js';
import type { ImageService } from './images.js';
import type { RegistryService } from './registry.js';

/** What the build backend uses (the engine has all of it; a test can hand in fakes). */
export interface BuildDeps {
  options: { dataRoot: string; execRoot: string };
  containers: ContainerService;
  content: Pick<ContentStore, 'ingestStream'>;
  imageStore: ImageStore;
  images: Pick<ImageService, 'ensureLayers' | 'topLayer'>;
  registry: Pick<RegistryService, 'pull'>;
  snapshotter: Snapshotter;
  commitContainer(ref: string, options?: CommitOptions): Promise<string>;
}

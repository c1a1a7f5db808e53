import { type StoredImage, chainIds } from '@ts-container/image';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ImageBudget, ImageQueries } from './image-queries.js';

const diffIds = ['sha256:1111', 'sha256:2222'];
const [bottom, top] = chainIds(diffIds);

function image(id: string, history: number, parent?: string, tags: string[] = []): StoredImage {
  return {
    record: { id, stored: '2024-01-01T00:00:00Z', repoDigests: [], ...(parent ? { parent } : {}) },
    config: {
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: [
        { created: '2024-01-01T00:00:00Z', created_by: 'ADD rootfs' },
        { created: '2024-01-02T00:00:00Z', created_by: 'ENV A=1', empty_layer: true },
        { created: '2024-01-03T00:00:00Z', created_by: 'RUN touch /x' },
      ].slice(0, history),
    },
    tags,
  } as StoredImage;
}

/** Image queries over two images (a child with its local parent) and a fake snapshotter. */
function queries(driver: 'overlay' | 'copy', counts = new Map<string, number>()) {
  const child = image('sha256:child', 3, 'sha256:parent', ['docker.io/library/app:1']);
  const parent = image('sha256:parent', 1, undefined, ['docker.io/library/base:latest']);
  const byId = new Map([
    [child.record.id, child],
    [parent.record.id, parent],
  ]);
  const root = `/var/lib/tsctr/storage/${driver}`;
  const dir = (key: string) => `${root}/${key.slice(7, 11)}/${driver === 'overlay' ? 'diff' : 'fs'}`;
  return new ImageQueries({
    images: {
      get: async (ref) => byId.get(ref) ?? child,
      summaries: async ({ containersUsing } = {}) =>
        [...byId.keys()].map((id) => ({ Id: id, Containers: containersUsing?.(id) ?? -1 }) as never),
      imageSize: () => 300,
      prune: async () => [],
    },
    imageStore: { has: (id) => byId.has(id), get: async (id) => byId.get(id)! },
    snapshotter: {
      driver: { name: driver },
      has: () => true,
      layerSize: (key: string) => (key === bottom ? 100 : 200),
      upperDir: dir,
      chain: (key: string) => (key === top ? [{ key: top }, { key: bottom }] : [{ key: bottom }]),
    } as never,
    usedBy: () => [],
    containerCounts: () => counts,
    collectGarbage: async () => ({ bytes: 0 }),
  });
}

describe('ImageQueries', () => {
  it('history: newest first, local images named with their tags, the rest <missing>', async () => {
    const rows = await queries('overlay').history('app:1');
    expect(rows.map((r) => [r.Id, r.CreatedBy, r.Size, r.Tags])).toEqual([
      ['sha256:child', 'RUN touch /x', 200, ['app:1']],
      ['<missing>', 'ENV A=1', 0, null],
      ['sha256:parent', 'ADD rootfs', 100, ['base:latest']],
    ]);
  });

  it("inspect shows overlay2's directories for overlay, and no data for the copy driver", async () => {
    const overlay = await queries('overlay').inspect('app:1');
    expect(overlay.GraphDriver).toEqual({
      Name: 'overlay',
      Data: {
        LowerDir: `/var/lib/tsctr/storage/overlay/${bottom!.slice(7, 11)}/diff`,
        MergedDir: `/var/lib/tsctr/storage/overlay/${top!.slice(7, 11)}/merged`,
        UpperDir: `/var/lib/tsctr/storage/overlay/${top!.slice(7, 11)}/diff`,
        WorkDir: `/var/lib/tsctr/storage/overlay/${top!.slice(7, 11)}/work`,
      },
    });
    const copy = await queries('copy').inspect('app:1');
    expect(copy.GraphDriver).toEqual({ Name: 'copy', Data: null });
    expect(copy).toMatchObject({
      Id: 'sha256:child',
      RepoTags: ['app:1'],
      Parent: 'sha256:parent',
      Size: 300,
    });
  });

  it('list counts the containers of each image from one count of all containers', async () => {
    const list = await queries('copy', new Map([['sha256:child', 2]])).list();
    expect(list.map((i) => [i.Id, i.Containers])).toEqual([
      ['sha256:child', 2],
      ['sha256:parent', 0],
    ]);
  });

  it('refuses unknown list filters and bad dangling values', async () => {
    await expect(queries('copy').list({ filters: new Map([['colour', ['red']]]) })).rejects.toThrow(
      "invalid filter 'colour'",
    );
    await expect(queries('copy').list({ filters: new Map([['dangling', ['maybe']]]) })).rejects.toThrow(
      "Invalid filter 'dangling=maybe'",
    );
  });
});

describe('ImageBudget (EngineOptions.imageGcBudget)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('removes images over the budget every minute and collects their layers', async () => {
    vi.useFakeTimers();
    const enforceBudget = vi.fn(async () => ['sha256:old']);
    const collectGarbage = vi.fn(async () => ({ bytes: 1 }));
    const budget = ImageBudget.start({
      budget: 1000,
      images: { enforceBudget },
      usedBy: () => [],
      collectGarbage,
      onError: (err) => {
        throw err;
      },
    });
    expect(enforceBudget).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(enforceBudget).toHaveBeenCalledWith(1000, expect.any(Function));
    expect(collectGarbage).toHaveBeenCalledOnce();
    expect(await budget.enforce()).toEqual(['sha256:old']);
  });

  it('does nothing without a budget', async () => {
    const enforceBudget = vi.fn(async () => []);
    const budget = ImageBudget.start({
      budget: undefined,
      images: { enforceBudget },
      usedBy: () => [],
      collectGarbage: async () => ({}),
      onError: () => {},
    });
    expect(await budget.enforce()).toEqual([]);
    expect(enforceBudget).not.toHaveBeenCalled();
  });
});

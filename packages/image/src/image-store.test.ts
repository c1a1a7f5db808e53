import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore } from './content-store.js';
import { ImageStore } from './image-store.js';
import type { ImageConfig } from './oci.js';

let root: string;
let content: ContentStore;
let store: ImageStore;

const config = (n: number): ImageConfig => ({
  architecture: 'amd64',
  os: 'linux',
  created: `2024-01-0${n}T00:00:00Z`,
  config: { Labels: { n: String(n) } },
  rootfs: { type: 'layers', diff_ids: [`sha256:${String(n).repeat(64)}`] },
});

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'image-store-'));
  content = new ContentStore(join(root, 'content'));
  await content.init();
  store = new ImageStore(join(root, 'image'), content);
  await store.init();
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ImageStore indexes', () => {
  it('lists tags and children as they change, in the order they were made', async () => {
    const a = await store.create(config(1));
    const b = await store.create(config(2), { parent: a });
    const c = await store.create(config(3), { parent: a });
    expect(store.children(a)).toEqual([b, c]);
    await store.tag(a, 'x:1');
    await store.tag(b, 'y:1');
    await store.tag(a, 'z:1');
    expect(store.tagsOf(a)).toEqual(['docker.io/library/x:1', 'docker.io/library/z:1']);
    // Moving a tag keeps its place among the tags (the order tags were first made).
    await store.tag(b, 'x:1');
    expect(store.tagsOf(a)).toEqual(['docker.io/library/z:1']);
    expect(store.tagsOf(b)).toEqual(['docker.io/library/x:1', 'docker.io/library/y:1']);
    await store.untag('y:1');
    expect(store.tagsOf(b)).toEqual(['docker.io/library/x:1']);
    await store.delete(b);
    expect(store.children(a)).toEqual([c]);
    expect(store.tagsOf(b)).toEqual([]);
    expect((await store.list()).map((i) => [i.record.id, i.tags])).toEqual([
      [a, ['docker.io/library/z:1']],
      [c, []],
    ]);
    // A re-created image comes back with its parent and no tags.
    expect(await store.create(config(2), { parent: a })).toBe(b);
    expect(store.children(a)).toEqual([c, b]);
  });

  it('gives each get its own config, and list the validated config read once', async () => {
    const a = await store.create(config(1));
    const first = await store.get(a);
    first.config.config!.Labels!.n = 'changed';
    expect((await store.get(a)).config.config?.Labels).toEqual({ n: '1' });
    expect((await store.list())[0]!.config).toEqual(config(1));
  });

  it('init reads the state again from disk, which stays the source of truth', async () => {
    const a = await store.create(config(1));
    const b = await store.create(config(2), { parent: a });
    await store.tag(b, 'app:1');
    await store.list();
    const again = new ImageStore(join(root, 'image'), content);
    await again.init();
    expect(again.children(a)).toEqual([b]);
    expect(again.tagsOf(b)).toEqual(['docker.io/library/app:1']);
    // A config blob damaged on disk is refused when first read after a restart.
    await writeFile(content.path(a), '{"os": 1}');
    const third = new ImageStore(join(root, 'image'), content);
    await third.init();
    await expect(third.get(a)).rejects.toThrow();
  });
});

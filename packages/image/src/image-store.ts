import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './atomic.js';
import type { ContentStore } from './content-store.js';
import { type Digest, digestHex, isDigest } from './digest.js';
import { ImageError, NoSuchImageError } from './errors.js';
import { DescriptorSchema, type ImageConfig, ImageConfigSchema } from './oci.js';
import {
  type ImageReference,
  familiarName,
  formatReference,
  looksLikeImageId,
  parseReference,
} from './reference.js';

export const ImageRecordSchema = z.object({
  /** Image ID: the digest of the config blob. */
  id: z.string(),
  /** The image this one was built or committed from (local only, like Docker's parent). */
  parent: z.string().optional(),
  /** When this engine stored the image. */
  stored: z.string(),
  lastUsed: z.string().optional(),
  /** Compressed layer descriptors as a registry or archive had them, when known. */
  layers: z.array(DescriptorSchema).optional(),
  /** `repo@sha256:…` digests of manifests this image was pulled or pushed as. */
  repoDigests: z.array(z.string()).default([]),
});
export type ImageRecord = z.infer<typeof ImageRecordSchema>;

const RepositoriesSchema = z.object({ refs: z.record(z.string()) });

export interface StoredImage {
  record: ImageRecord;
  config: ImageConfig;
  /** Fully qualified tags pointing at the image, e.g. `docker.io/library/busybox:latest`. */
  tags: string[];
}

/**
 * Image metadata: which config blobs are images, and which tags point at them. Configs
 * live in the content store; records and tags are small JSON files written atomically.
 */
export class ImageStore {
  private readonly recordsDir: string;
  private readonly repositoriesPath: string;
  private records = new Map<string, ImageRecord>();
  private refs = new Map<string, string>();
  /**
   * In-memory indexes for listings, kept in step with the maps above: configs validated when
   * first read (a config blob is named by its digest, so it never changes under its ID), and the
   * tags and children of each image, rebuilt in one pass after any write to tags or records.
   */
  private configs = new Map<string, ImageConfig>();
  private tagIndex: Map<string, string[]> | undefined;
  private childIndex: Map<string, string[]> | undefined;

  constructor(
    readonly root: string,
    private readonly content: ContentStore,
  ) {
    this.recordsDir = join(root, 'images');
    this.repositoriesPath = join(root, 'repositories.json');
  }

  /** Loads state; records whose config blob is missing (a crash mid-create) are dropped. */
  async init(): Promise<void> {
    await mkdir(this.recordsDir, { recursive: true });
    this.records.clear();
    this.configs.clear();
    this.invalidate();
    for (const name of await readdir(this.recordsDir)) {
      if (!name.endsWith('.json')) continue;
      const path = join(this.recordsDir, name);
      const parsed = ImageRecordSchema.safeParse(
        JSON.parse(await readFile(path, 'utf8').catch(() => 'null')),
      );
      if (!parsed.success || !(await this.content.has(parsed.data.id))) {
        await rm(path, { force: true });
        continue;
      }
      this.records.set(parsed.data.id, parsed.data);
    }
    this.refs.clear();
    const raw = await readFile(this.repositoriesPath, 'utf8').catch(() => undefined);
    if (raw !== undefined) {
      const parsed = RepositoriesSchema.parse(JSON.parse(raw));
      for (const [ref, id] of Object.entries(parsed.refs)) if (this.records.has(id)) this.refs.set(ref, id);
    }
    this.invalidate();
  }

  /** Stores a config blob as an image (idempotent) and returns its ID. */
  async create(
    config: ImageConfig,
    options: {
      parent?: string;
      layers?: ImageRecord['layers'];
      /** The config exactly as a registry or archive had it: its digest is the image ID. */
      rawConfig?: Buffer;
    } = {},
  ): Promise<Digest> {
    const bytes = options.rawConfig ?? Buffer.from(JSON.stringify(config));
    const blob = await this.content.put(bytes);
    const existing = this.records.get(blob.digest);
    const record: ImageRecord = {
      id: blob.digest,
      stored: existing?.stored ?? new Date().toISOString(),
      repoDigests: existing?.repoDigests ?? [],
    };
    const parent = options.parent ?? existing?.parent;
    if (parent !== undefined) record.parent = parent;
    const layers = options.layers ?? existing?.layers;
    if (layers !== undefined) record.layers = layers;
    await this.writeRecord(record);
    // Listed next, most likely: cached from the bytes just stored, validated as a read would be.
    if (!this.configs.has(blob.digest)) {
      const parsed = ImageConfigSchema.safeParse(JSON.parse(bytes.toString('utf8')));
      if (parsed.success) this.configs.set(blob.digest, parsed.data);
    }
    return blob.digest;
  }

  async update(id: string, change: (record: ImageRecord) => void): Promise<void> {
    const record = this.records.get(id);
    if (!record) throw new NoSuchImageError(id);
    const next = structuredClone(record);
    change(next);
    await this.writeRecord(next);
  }

  private async writeRecord(record: ImageRecord): Promise<void> {
    await writeFileAtomic(join(this.recordsDir, `${digestHex(record.id)}.json`), JSON.stringify(record));
    if (this.records.get(record.id)?.parent !== record.parent || !this.records.has(record.id))
      this.childIndex = undefined;
    this.records.set(record.id, record);
  }

  private invalidate(): void {
    this.tagIndex = undefined;
    this.childIndex = undefined;
  }

  has(id: string): boolean {
    return this.records.has(id);
  }

  ids(): string[] {
    return [...this.records.keys()];
  }

  /** One image, with a config of its own (the caller may change it). */
  async get(id: string): Promise<StoredImage> {
    const image = await this.view(id);
    return { record: image.record, config: structuredClone(image.config), tags: image.tags };
  }

  /**
   * Every image, for reading only: the configs are the store's cached ones, shared between
   * calls (list, inspect and garbage collection read them; none may change them).
   */
  async list(): Promise<StoredImage[]> {
    return Promise.all(this.ids().map((id) => this.view(id)));
  }

  private async view(id: string): Promise<StoredImage> {
    const record = this.records.get(id);
    if (!record) throw new NoSuchImageError(id);
    let config = this.configs.get(id);
    if (config === undefined) {
      config = ImageConfigSchema.parse(JSON.parse((await this.content.read(id)).toString('utf8')));
      // Deleted while it was read: not cached, so a later image with this ID reads its own.
      if (this.records.has(id)) this.configs.set(id, config);
    }
    return { record, config, tags: this.tagsOf(id) };
  }

  tagsOf(id: string): string[] {
    if (this.tagIndex === undefined) {
      this.tagIndex = new Map();
      for (const [ref, target] of this.refs) {
        const tags = this.tagIndex.get(target);
        if (tags) tags.push(ref);
        else this.tagIndex.set(target, [ref]);
      }
    }
    return [...(this.tagIndex.get(id) ?? [])];
  }

  /**
   * Every reference to the image, fully qualified: its tags and its `repo@sha256:…` digests,
   * in lexical order as moby's reference store lists them.
   */
  references(id: string): string[] {
    return [...this.tagsOf(id), ...(this.records.get(id)?.repoDigests ?? [])].sort();
  }

  /** All tags, fully qualified, with the image they point at. */
  allTags(): Array<[string, string]> {
    return [...this.refs];
  }

  /**
   * Finds an image the way Docker does: a full or `sha256:` ID, a name (tag or digest), or
   * a unique ID prefix. Throws `No such image: …` when nothing matches.
   */
  resolve(input: string): string {
    const found = this.lookup(input);
    if (found === undefined) throw new NoSuchImageError(missingName(input));
    return found;
  }

  lookup(input: string): string | undefined {
    if (isDigest(input)) return this.records.has(input) ? input : undefined;
    if (/^[a-f0-9]{64}$/.test(input)) {
      const id = `sha256:${input}`;
      return this.records.has(id) ? id : undefined;
    }
    let ref: ImageReference | undefined;
    try {
      ref = parseReference(input);
    } catch (err) {
      // An ID prefix like `d79adb` parses as a name; anything else that fails is bad input.
      if (!looksLikeImageId(input)) throw err;
      ref = undefined;
    }
    if (ref !== undefined) {
      if (ref.digest !== undefined) {
        const byDigest = `${ref.domain}/${ref.path}@${ref.digest}`;
        for (const record of this.records.values())
          if (record.repoDigests.includes(byDigest)) return record.id;
        if (ref.tag === undefined) return undefined;
      }
      const tagged = this.refs.get(
        formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' }),
      );
      if (tagged !== undefined) return tagged;
    }
    if (looksLikeImageId(input)) {
      const prefix = input.replace(/^sha256:/, '');
      const matches = this.ids().filter((id) => digestHex(id).startsWith(prefix));
      if (matches.length === 1) return matches[0];
      if (matches.length > 1) throw new ImageError('conflict', `ambiguous image ID prefix: ${input}`);
    }
    return undefined;
  }

  /** Points `reference` (normalised, with a tag) at `id`; returns the image it replaced, if any. */
  async tag(id: string, reference: string): Promise<string | undefined> {
    if (!this.records.has(id)) throw new NoSuchImageError(id);
    const ref = parseReference(reference);
    if (ref.digest !== undefined)
      throw new ImageError('invalid-parameter', 'refusing to create a tag with a digest reference');
    const key = formatReference(ref);
    const previous = this.refs.get(key);
    // Already so (a cached build tagging its result again): nothing to write.
    if (previous === id) return undefined;
    this.refs.set(key, id);
    this.tagIndex = undefined;
    await this.saveRefs();
    return previous !== id ? previous : undefined;
  }

  /** Removes a tag; returns the image it pointed at. */
  async untag(reference: string): Promise<string | undefined> {
    const key = formatReference(parseReference(reference));
    const id = this.refs.get(key);
    if (id === undefined) return undefined;
    this.refs.delete(key);
    this.tagIndex = undefined;
    await this.saveRefs();
    return id;
  }

  /** Removes a tag or a `repo@sha256:…` digest reference; returns the image it pointed at. */
  async removeReference(reference: string): Promise<string | undefined> {
    const ref = parseReference(reference);
    if (ref.digest === undefined) return this.untag(reference);
    const key = `${ref.domain}/${ref.path}@${ref.digest}`;
    const record = [...this.records.values()].find((r) => r.repoDigests.includes(key));
    if (record === undefined) return undefined;
    await this.update(record.id, (r) => {
      r.repoDigests = r.repoDigests.filter((d) => d !== key);
    });
    return record.id;
  }

  /** Forgets an image (its tags too). Its blobs are freed by the garbage collector. */
  async delete(id: string): Promise<void> {
    for (const [ref, target] of this.refs) if (target === id) this.refs.delete(ref);
    this.invalidate();
    await this.saveRefs();
    this.records.delete(id);
    this.configs.delete(id);
    this.invalidate();
    await rm(join(this.recordsDir, `${digestHex(id)}.json`), { force: true });
  }

  children(id: string): string[] {
    if (this.childIndex === undefined) {
      this.childIndex = new Map();
      for (const r of this.records.values()) {
        if (r.parent === undefined) continue;
        const children = this.childIndex.get(r.parent);
        if (children) children.push(r.id);
        else this.childIndex.set(r.parent, [r.id]);
      }
    }
    return [...(this.childIndex.get(id) ?? [])];
  }

  private async saveRefs(): Promise<void> {
    await writeFileAtomic(this.repositoriesPath, JSON.stringify({ refs: Object.fromEntries(this.refs) }));
  }
}

/** How moby's ErrImageDoesNotExist names what was not found: `busybox:latest`, `sha256:…`. */
function missingName(input: string): string {
  if (/^[a-f0-9]{64}$/.test(input)) return `sha256:${input}`;
  if (isDigest(input)) return input;
  return familiarName(parseReference(input));
}

import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { labelFilterMatches } from '@ts-container/api';
import type { Engine } from '@ts-container/engine';
import { chainIds, familiarName, parseReference } from '@ts-container/image';
import { HttpError, boolParam, filtersParam, sendJson } from '../http.js';
import type { Router } from '../router.js';
import { enforceImageBudget } from './archive-images.js';
import { pullImage } from './registry.js';

export function registerImages(router: Router, engine: Engine): void {
  router.add('GET', '/images/json', async ({ res, query }) => {
    const filters = filtersParam(query);
    for (const key of filters.keys())
      if (!['dangling', 'label', 'before', 'since', 'reference', 'until'].includes(key))
        throw new HttpError(400, `invalid filter '${key}'`);
    const references = filters.get('reference');
    const dangling = filters.get('dangling')?.[0];
    if (dangling !== undefined && !['true', 'false', '1', '0'].includes(dangling))
      throw new HttpError(400, `Invalid filter 'dangling=${dangling}'`);
    let list = await engine.images.summaries({
      all: boolParam(query, 'all'),
      containersUsing: (id) => engine.containers.usingImage(id).length,
      ...(references ? { references } : {}),
      ...(dangling !== undefined ? { dangling: dangling === 'true' || dangling === '1' } : {}),
    });
    // before/since: images created before or after the named one.
    for (const [key, keep] of [
      ['before', (c: number, ref: number) => c < ref],
      ['since', (c: number, ref: number) => c > ref],
    ] as const) {
      for (const name of filters.get(key) ?? []) {
        const ref = await engine.images.get(name);
        const created = Math.floor(Date.parse(ref.config.created ?? ref.record.stored) / 1000);
        list = list.filter((i) => i.Id !== ref.record.id && keep(i.Created, created));
      }
    }
    const until = filters.get('until')?.[0];
    if (until !== undefined) {
      const limit = /^\d+$/.test(until) ? Number(until) : Date.parse(until) / 1000;
      if (Number.isNaN(limit))
        throw new HttpError(400, `failed to parse value as time or duration: "${until}"`);
      list = list.filter((i) => i.Created < limit);
    }
    const labels = filters.get('label');
    if (labels) {
      list = list.filter((i) => labels.every((l) => labelFilterMatches(i.Labels, l)));
    }
    sendJson(res, 200, list);
  });

  router.add('POST', '/images/create', async (ctx) => {
    const { req, res, query } = ctx;
    const fromSrc = query.get('fromSrc');
    if (fromSrc === null) {
      await pullImage(engine, ctx);
      return;
    }
    let source: Readable = req;
    if (fromSrc !== '-') {
      // `docker import URL`: the daemon downloads the tarball itself.
      let url: URL;
      try {
        url = new URL(fromSrc.includes('://') ? fromSrc : `http://${fromSrc}`);
      } catch {
        throw new HttpError(400, `invalid URL: ${fromSrc}`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new HttpError(400, `unsupported URL scheme: ${url.protocol}`);
      const response = await fetch(url).catch((err: Error) => {
        throw new HttpError(
          500,
          `Get "${url.href}": ${(err.cause as Error | undefined)?.message ?? err.message}`,
        );
      });
      if (!response.ok || !response.body)
        throw new HttpError(500, `Get "${url.href}": unexpected status ${response.status}`);
      source = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
    }
    const repo = query.get('repo') ?? '';
    const tag = query.get('tag') ?? '';
    const reference = repo === '' ? undefined : tag !== '' ? `${repo}:${tag}` : repo;
    if (reference !== undefined) parseReference(reference);
    const id = await engine.images.importRootfs(source, {
      ...(reference !== undefined ? { reference } : {}),
      source: fromSrc,
      ...(query.get('message') ? { message: query.get('message')! } : {}),
      changes: query.getAll('changes').filter((c) => c !== ''),
    });
    await enforceImageBudget(engine);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(`${JSON.stringify({ status: id })}\n`);
  });

  router.add('GET', '/images/{name*}/json', async ({ res, params }) => {
    const image = await engine.images.get(params.name!);
    const config = image.config;
    sendJson(res, 200, {
      Id: image.record.id,
      RepoTags: image.tags.map((t) => familiarName(parseReference(t))),
      RepoDigests: image.record.repoDigests.map((d) => familiarName(parseReference(d))),
      Parent: image.record.parent ?? '',
      Comment: config.comment ?? '',
      Created: config.created ?? image.record.stored,
      DockerVersion: config.docker_version ?? '',
      Author: config.author ?? '',
      Config: config.config ?? {},
      Architecture: config.architecture,
      Variant: config.variant,
      Os: config.os,
      Size: engine.images.imageSize(config),
      GraphDriver: graphDriver(engine, config.rootfs.diff_ids),
      RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
      Metadata: { LastTagTime: image.tags.length > 0 ? image.record.stored : '0001-01-01T00:00:00Z' },
    });
  });

  router.add('GET', '/images/{name*}/history', async ({ res, params }) => {
    const image = await engine.images.get(params.name!);
    const history = image.config.history ?? [];
    const diffIds = [...image.config.rootfs.diff_ids];
    // Entries that end a locally known image (this one or its parents) show that image's ID
    // and tags; the rest came from elsewhere and show `<missing>`, as in Docker.
    const known = new Map<number, { id: string; tags: string[] }>();
    for (let cur: typeof image | undefined = image, depth = 0; cur && depth < 1000; depth++) {
      const count = cur.config.history?.length ?? 0;
      if (count > 0 && !known.has(count - 1))
        known.set(count - 1, {
          id: cur.record.id,
          tags: cur.tags.map((t) => familiarName(parseReference(t))),
        });
      const parent: string | undefined = cur.record.parent;
      cur = parent && engine.imageStore.has(parent) ? await engine.imageStore.get(parent) : undefined;
    }
    let layerIndex = -1;
    const rows = history.map((h, i) => {
      const emptyLayer = h.empty_layer === true;
      if (!emptyLayer) layerIndex++;
      const local = known.get(i);
      return {
        Id: local?.id ?? '<missing>',
        Created: Math.floor(Date.parse(h.created ?? '1970-01-01T00:00:00Z') / 1000),
        CreatedBy: h.created_by ?? '',
        Tags: local && local.tags.length > 0 ? local.tags : null,
        Size: !emptyLayer && diffIds[layerIndex] ? layerSize(engine, diffIds, layerIndex) : 0,
        Comment: h.comment ?? '',
      };
    });
    sendJson(res, 200, rows.reverse());
  });

  router.add('POST', '/images/{name*}/tag', async ({ res, params, query }) => {
    const id = engine.imageStore.resolve(params.name!);
    const repo = query.get('repo');
    if (!repo) throw new HttpError(400, 'repository name is required');
    const tag = query.get('tag') || 'latest';
    await engine.imageStore.tag(id, `${repo}:${tag}`);
    res.writeHead(201);
    res.end();
  });

  router.add('DELETE', '/images/{name*}', async ({ res, params, query }) => {
    const report = await engine.removeImage(params.name!, {
      force: boolParam(query, 'force'),
      prune: !boolParam(query, 'noprune'),
    });
    sendJson(res, 200, report);
  });
}

/** Docker's GraphDriver.Data: the top layer's directories and the ones below it. */
function graphDriver(engine: Engine, diffIds: string[]) {
  const name = engine.snapshotter.driver.name;
  const top = chainIds(diffIds).at(-1);
  if (top === undefined || !engine.snapshotter.has(top)) return { Name: name, Data: null };
  const upper = engine.snapshotter.upperDir(top);
  const lower = engine.snapshotter
    .chain(top)
    .slice(1)
    .map((s) => engine.snapshotter.upperDir(s.key));
  const base = dirname(upper);
  return {
    Name: name,
    Data: {
      ...(lower.length > 0 ? { LowerDir: lower.join(':') } : {}),
      MergedDir: join(base, 'merged'),
      UpperDir: upper,
      WorkDir: join(base, 'work'),
    },
  };
}

function layerSize(engine: Engine, diffIds: string[], index: number): number {
  // A layer's snapshot is named by its chain ID.
  const key = chainIds(diffIds.slice(0, index + 1)).at(-1)!;
  return engine.snapshotter.has(key) ? engine.snapshotter.layerSize(key) : 0;
}

import type { Engine } from '@ts-container/engine';
import { chainIds, familiarName, parseReference } from '@ts-container/image';
import { HttpError, boolParam, filtersParam, sendJson } from '../http.js';
import type { Router } from '../router.js';
import { pullImage } from './registry.js';

export function registerImages(router: Router, engine: Engine): void {
  router.add('GET', '/images/json', async ({ res, query }) => {
    const filters = filtersParam(query);
    let list = await engine.images.summaries({
      containersUsing: (id) => engine.containers.usingImage(id).length,
    });
    const dangling = filters.get('dangling')?.[0];
    if (dangling !== undefined)
      list = list.filter((i) => (i.RepoTags.length === 0) === (dangling === 'true' || dangling === '1'));
    const refs = filters.get('reference');
    if (refs)
      list = list.filter((i) =>
        i.RepoTags.some((t) => refs.some((r) => globMatch(r.includes(':') ? r : `${r}:*`, t))),
      );
    const labels = filters.get('label');
    if (labels) {
      list = list.filter((i) =>
        labels.every((l) => {
          const [k, v] = l.split('=');
          return k !== undefined && k in i.Labels && (v === undefined || i.Labels[k] === v);
        }),
      );
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
    if (fromSrc !== '-')
      throw new HttpError(400, 'importing from a URL is not supported yet; pipe the tarball to stdin');
    const repo = query.get('repo') ?? '';
    const tag = query.get('tag') ?? '';
    const reference = repo === '' ? undefined : tag !== '' ? `${repo}:${tag}` : repo;
    if (reference !== undefined) parseReference(reference);
    const id = await engine.images.importRootfs(req, {
      ...(reference !== undefined ? { reference } : {}),
      ...(query.get('message') ? { message: query.get('message')! } : {}),
      changes: query.getAll('changes').filter((c) => c !== ''),
    });
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
      GraphDriver: { Name: engine.snapshotter.driver.name, Data: {} },
      RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
      Metadata: { LastTagTime: image.record.stored },
    });
  });

  router.add('GET', '/images/{name*}/history', async ({ res, params }) => {
    const image = await engine.images.get(params.name!);
    const history = image.config.history ?? [];
    const diffIds = [...image.config.rootfs.diff_ids];
    const rows = history.map((h, i) => {
      const emptyLayer = h.empty_layer === true;
      const layerIndex = emptyLayer ? -1 : history.slice(0, i + 1).filter((x) => !x.empty_layer).length - 1;
      return {
        Id: i === history.length - 1 ? image.record.id : '<missing>',
        Created: Math.floor(Date.parse(h.created ?? '1970-01-01') / 1000),
        CreatedBy: h.created_by ?? '',
        Tags: i === history.length - 1 ? image.tags.map((t) => familiarName(parseReference(t))) : null,
        Size: layerIndex >= 0 && diffIds[layerIndex] ? layerSize(engine, diffIds, layerIndex) : 0,
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
    const report = await engine.images.remove(params.name!, {
      force: boolParam(query, 'force'),
      usedBy: (id) => engine.containers.usingImage(id),
    });
    if (report.some((r) => r.Deleted)) await engine.collectGarbage();
    sendJson(res, 200, report);
  });
}

function layerSize(engine: Engine, diffIds: string[], index: number): number {
  // A layer's snapshot is named by its chain ID.
  const key = chainIds(diffIds.slice(0, index + 1)).at(-1)!;
  return engine.snapshotter.has(key) ? engine.snapshotter.layerSize(key) : 0;
}

/** `docker images --filter reference=` glob: `*` within a path component. */
function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')}$`,
  );
  return re.test(value);
}

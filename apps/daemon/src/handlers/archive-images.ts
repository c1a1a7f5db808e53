import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Engine, containerSize, dockerCommandLine, loadImages, saveImages } from '@ts-container/engine';
import { HttpError, filtersParam, messageFor, sendJson } from '../http.js';
import type { Router } from '../router.js';
import { volumeUsage } from './volumes.js';

/**
 * Image save/load, prune and disk usage: `GET /images/get`, `GET /images/{name}/get`,
 * `POST /images/load`, `POST /images/prune`, `GET /system/df`.
 */
export function registerArchiveImages(router: Router, engine: Engine): void {
  const usedBy = (id: string) => engine.containers.usingImage(id);
  const tmpRoot = join(engine.options.dataRoot, 'tmp');

  const save = async (res: import('node:http').ServerResponse, names: string[]) => {
    if (names.length === 0) throw new HttpError(400, 'no images specified');
    const stream: Readable = await saveImages(engine.images, names, tmpRoot);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    try {
      await pipeline(stream, res);
    } catch {
      res.destroy();
    }
  };
  router.add('GET', '/images/get', async ({ res, query }) => save(res, query.getAll('names')));
  router.add('GET', '/images/{name*}/get', async ({ res, params }) => save(res, [params.name!]));

  router.add('POST', '/images/load', async ({ req, res }) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const send = (msg: object) => res.write(`${JSON.stringify(msg)}\n`);
    try {
      await loadImages(engine.images, req, send);
      await enforceImageBudget(engine);
    } catch (err) {
      const message = messageFor(err);
      send({ errorDetail: { message }, error: message });
      // The rest of the upload is of no use; drain it so the client sees our answer.
      req.resume();
    }
    res.end();
  });

  router.add('POST', '/images/prune', async ({ res, query }) => {
    const filters = filtersParam(query);
    const deleted = await engine.images.prune({ filters, usedBy });
    const freed = await engine.collectGarbage();
    sendJson(res, 200, { ImagesDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: freed.bytes });
  });

  router.add('GET', '/system/df', async ({ res, query }) => {
    const types = query.getAll('type');
    const want = (t: string) => types.length === 0 || types.includes(t);
    const body: Record<string, unknown> = {};
    if (want('image')) {
      const usage = await engine.images.diskUsage((id) => usedBy(id).length);
      body.LayersSize = usage.layersSize;
      body.Images = usage.images;
    }
    if (want('container')) {
      const containers = [];
      for (const c of engine.containerStore.all()) {
        const size = await containerSize(engine, c.Id).catch(() => ({ SizeRw: 0, SizeRootFs: 0 }));
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
    if (want('volume')) body.Volumes = await volumeUsage(engine);
    if (want('build-cache')) body.BuildCache = [];
    sendJson(res, 200, body);
  });

  const budget = imageBudget(engine);
  if (budget !== undefined) {
    // Images also arrive by pull, build and commit: check the budget now and then as well.
    setInterval(() => void enforceImageBudget(engine).catch(() => undefined), 60_000).unref();
  }
}

function imageBudget(engine: Engine): number | undefined {
  const value = engine.options.imageGcBudget;
  return typeof value === 'number' && value > 0 ? value : undefined;
}

/**
 * The optional disk budget (`--image-gc-budget`): least recently used images that no container
 * uses are removed, and their blobs and layers collected, until the image layers fit.
 */
export async function enforceImageBudget(engine: Engine): Promise<string[]> {
  const budget = imageBudget(engine);
  if (budget === undefined) return [];
  const deleted = await engine.images.enforceBudget(budget, (id) => engine.containers.usingImage(id));
  if (deleted.length > 0) await engine.collectGarbage();
  return deleted;
}

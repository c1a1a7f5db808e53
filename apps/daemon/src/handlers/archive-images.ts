import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type ImageBudget,
  type ImageQueries,
  type ImageService,
  type SystemService,
  loadImages,
  saveImages,
} from '@ts-container/engine';
import { HttpError, filtersParam, messageFor, sendJson } from '../http.js';
import type { Router } from '../router.js';

/**
 * Image save/load, prune and disk usage: `GET /images/get`, `GET /images/{name}/get`,
 * `POST /images/load`, `POST /images/prune`, `GET /system/df`.
 */
export interface ArchiveImagesDeps {
  /** The data root: saves are staged under its `tmp`. */
  dataRoot: string;
  images: ImageService;
  imageBudget: Pick<ImageBudget, 'enforce'>;
  imageQueries: Pick<ImageQueries, 'prune'>;
  system: Pick<SystemService, 'diskUsage'>;
}

export function registerArchiveImages(router: Router, deps: ArchiveImagesDeps): void {
  const tmpRoot = join(deps.dataRoot, 'tmp');

  const save = async (res: import('node:http').ServerResponse, names: string[]) => {
    if (names.length === 0) throw new HttpError(400, 'no images specified');
    const stream: Readable = await saveImages(deps.images, names, tmpRoot);
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
      await loadImages(deps.images, req, send);
      await deps.imageBudget.enforce();
    } catch (err) {
      const message = messageFor(err);
      send({ errorDetail: { message }, error: message });
      // The rest of the upload is of no use; drain it so the client sees our answer.
      req.resume();
    }
    res.end();
  });

  router.add('POST', '/images/prune', async ({ res, query }) => {
    sendJson(res, 200, await deps.imageQueries.prune(filtersParam(query)));
  });

  router.add('GET', '/system/df', async ({ res, query }) => {
    sendJson(res, 200, await deps.system.diskUsage(query.getAll('type')));
  });
}

import { Readable } from 'node:stream';
import type { ImageBudget, ImageDeleteEntry, ImageQueries, ImageService } from '@ts-container/engine';
import { type ImageStore, parseReference } from '@ts-container/image';
import { HttpError, boolParam, filtersParam, sendJson } from '../http.js';
import type { Router } from '../router.js';
import { type PullDeps, pullImage } from './registry.js';

export interface ImagesDeps extends PullDeps {
  queries: Pick<ImageQueries, 'list' | 'inspect' | 'history'>;
  images: Pick<ImageService, 'importRootfs'>;
  imageBudget: Pick<ImageBudget, 'enforce'>;
  imageStore: Pick<ImageStore, 'resolve' | 'tag'>;
  /** `docker rmi` with the layers it frees (the engine's `removeImage`). */
  removeImage(ref: string, options: { force: boolean; prune: boolean }): Promise<ImageDeleteEntry[]>;
}

export function registerImages(router: Router, deps: ImagesDeps): void {
  const queries = deps.queries;

  router.add('GET', '/images/json', async ({ res, query }) => {
    sendJson(res, 200, await queries.list({ all: boolParam(query, 'all'), filters: filtersParam(query) }));
  });

  router.add('POST', '/images/create', async (ctx) => {
    const { req, res, query } = ctx;
    const fromSrc = query.get('fromSrc');
    if (fromSrc === null) {
      await pullImage(deps, ctx);
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
    const id = await deps.images.importRootfs(source, {
      ...(reference !== undefined ? { reference } : {}),
      source: fromSrc,
      ...(query.get('message') ? { message: query.get('message')! } : {}),
      changes: query.getAll('changes').filter((c) => c !== ''),
    });
    await deps.imageBudget.enforce();
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(`${JSON.stringify({ status: id })}\n`);
  });

  router.add('GET', '/images/{name*}/json', async ({ res, params }) => {
    sendJson(res, 200, await queries.inspect(params.name!));
  });

  router.add('GET', '/images/{name*}/history', async ({ res, params }) => {
    sendJson(res, 200, await queries.history(params.name!));
  });

  router.add('POST', '/images/{name*}/tag', async ({ res, params, query }) => {
    const id = deps.imageStore.resolve(params.name!);
    const repo = query.get('repo');
    if (!repo) throw new HttpError(400, 'repository name is required');
    const tag = query.get('tag') || 'latest';
    await deps.imageStore.tag(id, `${repo}:${tag}`);
    res.writeHead(201);
    res.end();
  });

  router.add('DELETE', '/images/{name*}', async ({ res, params, query }) => {
    const report = await deps.removeImage(params.name!, {
      force: boolParam(query, 'force'),
      prune: !boolParam(query, 'noprune'),
    });
    sendJson(res, 200, report);
  });
}

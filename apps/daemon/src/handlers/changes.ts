import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type ChangesDeps,
  commitContainer,
  containerChanges,
  exportContainer,
  getContainerArchive,
  putContainerArchive,
  statContainerPath,
} from '@ts-container/engine';
import { HttpError, boolParam, readJson, sendEmpty, sendJson } from '../http.js';
import type { Router } from '../router.js';

const KIND = { C: 0, A: 1, D: 2 } as const;

/** The stat header `docker cp` reads: base64 of the path's JSON stat. */
const PATH_STAT_HEADER = 'X-Docker-Container-Path-Stat';

function pathStatHeader(stat: object): string {
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}

async function streamTo(res: ServerResponse, stream: Readable): Promise<void> {
  // pipeline, not pipe: a client that goes away mid-download destroys the source (open files, mounts).
  await pipeline(stream, res).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  });
}

function requirePath(query: URLSearchParams): string {
  const path = query.get('path');
  if (!path) throw new HttpError(400, 'path is required');
  return path;
}

/** A container's filesystem: changes, commit, export and archive (`docker cp`). */
export function registerChanges(router: Router, deps: ChangesDeps): void {
  router.add('GET', '/containers/{id}/changes', async ({ res, params }) => {
    const changes = await containerChanges(deps, params.id!);
    sendJson(
      res,
      200,
      changes.map((c) => ({ Path: c.path, Kind: KIND[c.kind] })),
    );
  });

  router.add('POST', '/commit', async ({ req, res, query }) => {
    const container = query.get('container');
    if (!container) throw new HttpError(400, 'container is required');
    const repo = query.get('repo') ?? '';
    const tag = query.get('tag') ?? '';
    // docker commit sends a (usually empty) config body; the changes travel in the query.
    await readJson(req);
    const changes = query.getAll('changes').filter((c) => c !== '');
    const id = await commitContainer(deps, container, {
      ...(repo ? { reference: tag ? `${repo}:${tag}` : repo } : {}),
      ...(query.get('comment') ? { comment: query.get('comment')! } : {}),
      ...(query.get('author') ? { author: query.get('author')! } : {}),
      ...(changes.length > 0 ? { changes } : {}),
      pause: query.get('pause') !== '0' && query.get('pause') !== 'false',
    });
    sendJson(res, 201, { Id: id });
  });

  router.add('GET', '/containers/{id}/export', async ({ res, params }) => {
    const stream = await exportContainer(deps, params.id!);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await streamTo(res, stream);
  });

  // HEAD first: the router would otherwise answer HEAD with the GET route.
  router.add('HEAD', '/containers/{id}/archive', async ({ res, params, query }) => {
    const stat = await statContainerPath(deps, params.id!, requirePath(query));
    res.writeHead(200, { [PATH_STAT_HEADER]: pathStatHeader(stat), 'Content-Type': 'application/json' });
    res.end();
  });

  router.add('GET', '/containers/{id}/archive', async ({ res, params, query }) => {
    const { stat, tar } = await getContainerArchive(deps, params.id!, requirePath(query));
    res.writeHead(200, { [PATH_STAT_HEADER]: pathStatHeader(stat), 'Content-Type': 'application/x-tar' });
    await streamTo(res, tar);
  });

  router.add('PUT', '/containers/{id}/archive', async ({ req, res, params, query }) => {
    await putContainerArchive(deps, params.id!, requirePath(query), req, {
      copyUIDGID: boolParam(query, 'copyUIDGID'),
    });
    sendEmpty(res, 200);
  });
}

import { VolumeCreateRequestSchema } from '@ts-container/api';
import type { VolumeQueries } from '@ts-container/engine';
import { boolParam, filtersParam, readJson, sendEmpty, sendJson } from '../http.js';
import type { Router } from '../router.js';

export interface VolumesDeps {
  volumes: Pick<VolumeQueries, 'list' | 'create' | 'prune' | 'get' | 'remove'>;
}

/** The `/volumes` endpoints (Docker's local driver). */
export function registerVolumes(router: Router, deps: VolumesDeps): void {
  const volumes = deps.volumes;

  router.add('GET', '/volumes', async ({ res, query }) => {
    sendJson(res, 200, volumes.list(filtersParam(query)));
  });

  router.add('POST', '/volumes/create', async ({ req, res }) => {
    const body = VolumeCreateRequestSchema.parse((await readJson(req)) ?? {});
    const v = await volumes.create({
      ...(body.Name ? { Name: body.Name } : {}),
      ...(body.Driver ? { Driver: body.Driver } : {}),
      ...(body.DriverOpts ? { DriverOpts: body.DriverOpts } : {}),
      ...(body.Labels ? { Labels: body.Labels } : {}),
    });
    sendJson(res, 201, v);
  });

  router.add('POST', '/volumes/prune', async ({ res, query, version }) => {
    sendJson(res, 200, await volumes.prune(filtersParam(query), version));
  });

  router.add('GET', '/volumes/{name}', async ({ res, params }) => {
    sendJson(res, 200, volumes.get(params.name!));
  });

  router.add('DELETE', '/volumes/{name}', async ({ res, params, query }) => {
    await volumes.remove(params.name!, boolParam(query, 'force'));
    sendEmpty(res, 204);
  });
}

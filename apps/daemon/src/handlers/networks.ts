import {
  NetworkConnectRequestSchema,
  NetworkCreateRequestSchema,
  NetworkDisconnectRequestSchema,
} from '@ts-container/api';
import type { NetworkService } from '@ts-container/engine';
import { filtersParam, readJson, sendEmpty, sendJson } from '../http.js';
import type { Router } from '../router.js';

export interface NetworksDeps {
  networks: Pick<
    NetworkService,
    'list' | 'inspect' | 'create' | 'remove' | 'prune' | 'connect' | 'disconnect'
  >;
}

/** The Engine API's network routes over the engine's network service. */
export function registerNetworks(router: Router, deps: NetworksDeps): void {
  const networks = deps.networks;

  router.add('GET', '/networks', async ({ res, query }) => {
    sendJson(res, 200, await networks.list(filtersParam(query)));
  });

  router.add('GET', '/networks/{id}', async ({ res, params, query }) => {
    sendJson(res, 200, await networks.inspect(params.id!, query.get('scope') ?? undefined));
  });

  router.add('POST', '/networks/create', async ({ req, res }) => {
    const body = NetworkCreateRequestSchema.parse(await readJson(req));
    sendJson(res, 201, await networks.create(body));
  });

  router.add('DELETE', '/networks/{id}', async ({ res, params }) => {
    await networks.remove(params.id!);
    sendEmpty(res, 204);
  });

  router.add('POST', '/networks/prune', async ({ res, query }) => {
    sendJson(res, 200, await networks.prune(filtersParam(query)));
  });

  router.add('POST', '/networks/{id}/connect', async ({ req, res, params }) => {
    const body = NetworkConnectRequestSchema.parse(await readJson(req));
    await networks.connect(params.id!, body);
    sendEmpty(res, 200);
  });

  router.add('POST', '/networks/{id}/disconnect', async ({ req, res, params }) => {
    const body = NetworkDisconnectRequestSchema.parse(await readJson(req));
    await networks.disconnect(params.id!, body.Container);
    sendEmpty(res, 200);
  });
}

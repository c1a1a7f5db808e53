import { EndpointSettingsSchema, labelFilterMatches } from '@ts-container/api';
import { BridgeNetworking, type Engine, EngineError, endpointConfig } from '@ts-container/engine';
import type { NetworkInspect } from '@ts-container/network';
import { z } from 'zod';
import { HttpError, filtersParam, readJson, sendEmpty, sendJson } from '../http.js';
import type { Router } from '../router.js';

// JSON null anywhere in these requests means "unset", as in Docker's Go structs.
const str = z.string().nullable().optional();
const strMap = z.record(z.string()).nullable().optional();

const IpamPoolSchema = z
  .object({ Subnet: str, IPRange: str, Gateway: str, AuxiliaryAddresses: strMap })
  .passthrough();

const NetworkCreateSchema = z
  .object({
    Name: z.string(),
    Driver: str,
    Internal: z.boolean().nullable().optional(),
    Attachable: z.boolean().nullable().optional(),
    Ingress: z.boolean().nullable().optional(),
    Scope: str,
    EnableIPv6: z.boolean().nullable().optional(),
    IPAM: z
      .object({ Driver: str, Config: z.array(IpamPoolSchema).nullable().optional(), Options: strMap })
      .passthrough()
      .nullable()
      .optional(),
    Options: strMap,
    Labels: strMap,
  })
  .passthrough();

const ConnectSchema = z
  .object({ Container: z.string(), EndpointConfig: EndpointSettingsSchema.nullable().optional() })
  .passthrough();
const DisconnectSchema = z.object({ Container: z.string(), Force: z.boolean().optional() }).passthrough();

const PREDEFINED = ['bridge', 'host', 'none'];

/** The Engine API's network routes over the engine's bridge networking. */
export function registerNetworks(router: Router, engine: Engine): void {
  const networking = () => {
    const n = engine.options.networking;
    if (!(n instanceof BridgeNetworking))
      throw new EngineError('unavailable', 'networking is not enabled in this daemon');
    return n;
  };

  router.add('GET', '/networks', async ({ res, query }) => {
    const filters = filtersParam(query);
    const list = (await networking().manager.listNetworks()).filter((n) => matches(n, filters));
    sendJson(res, 200, list);
  });

  router.add('GET', '/networks/{id}', async ({ res, params, query }) => {
    const network = await networking().manager.inspectNetwork(params.id!);
    // moby: a network of another scope than the one asked for is not found.
    const scope = query.get('scope');
    if (scope && scope !== network.Scope)
      throw new EngineError('not-found', `network ${params.id} not found`);
    sendJson(res, 200, network);
  });

  router.add('POST', '/networks/create', async ({ req, res }) => {
    const body = NetworkCreateSchema.parse(await readJson(req));
    if (body.Name === '') throw new HttpError(400, 'network name is required');
    if (body.IPAM?.Driver && body.IPAM.Driver !== 'default')
      throw new EngineError('not-found', `plugin "${body.IPAM.Driver}" not found`);
    // One pool per address family, told apart by the subnet's (or the gateway's) notation.
    const configs = body.IPAM?.Config ?? [];
    const isV6 = (c: z.infer<typeof IpamPoolSchema>) =>
      (c.Subnet || c.Gateway || c.IPRange || '').includes(':');
    const v4 = configs.filter((c) => !isV6(c));
    const v6 = configs.filter(isV6);
    if (v4.length > 1 || v6.length > 1)
      throw new HttpError(400, 'only one IPAM configuration per address family is supported');
    const pool4 = v4[0];
    const pool6 = v6[0];
    const driver = body.Driver || 'bridge';
    // Overlay networks are swarm objects: only a swarm manager creates them.
    if (driver === 'overlay') engine.swarm.assertManager();
    const scope = driver === 'overlay' ? 'swarm' : 'local';
    if (body.Scope && body.Scope !== scope)
      throw new EngineError(
        'not-implemented',
        `scope "${body.Scope}" is not supported for ${driver} networks by this engine (only "${scope}")`,
      );
    const created = await networking().manager.createNetwork({
      name: body.Name,
      driver,
      subnet: pool4?.Subnet || undefined,
      gateway: pool4?.Gateway || undefined,
      ipRange: pool4?.IPRange || undefined,
      auxAddresses: pool4?.AuxiliaryAddresses ?? undefined,
      ipamOptions: body.IPAM?.Options ?? undefined,
      enableIPv6: body.EnableIPv6 ?? false,
      subnet6: pool6?.Subnet || undefined,
      gateway6: pool6?.Gateway || undefined,
      ipRange6: pool6?.IPRange || undefined,
      auxAddresses6: pool6?.AuxiliaryAddresses ?? undefined,
      internal: body.Internal ?? false,
      attachable: body.Attachable ?? false,
      ingress: body.Ingress ?? false,
      labels: body.Labels ?? {},
      options: body.Options ?? {},
    });
    sendJson(res, 201, { Id: created.Id, Warning: '' });
  });

  router.add('DELETE', '/networks/{id}', async ({ res, params }) => {
    await networking().manager.removeNetwork(params.id!);
    sendEmpty(res, 204);
  });

  router.add('POST', '/networks/prune', async ({ res, query }) => {
    const labels: Record<string, string> = {};
    for (const l of filtersParam(query).get('label') ?? []) {
      const i = l.indexOf('=');
      if (i < 0) throw new HttpError(400, `label filter without value is not supported: ${l}`);
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    const deleted = await networking().manager.pruneNetworks({ labels });
    sendJson(res, 200, { NetworksDeleted: deleted });
  });

  router.add('POST', '/networks/{id}/connect', async ({ req, res, params }) => {
    const body = ConnectSchema.parse(await readJson(req));
    const c = engine.containers.get(body.Container);
    const settings = await networking().connect(c, params.id!, endpointConfig(body.EndpointConfig));
    await engine.containerStore.update(c.Id, (r) => {
      r.NetworkSettings = settings;
    });
    sendEmpty(res, 200);
  });

  router.add('POST', '/networks/{id}/disconnect', async ({ req, res, params }) => {
    const body = DisconnectSchema.parse(await readJson(req));
    const c = engine.containers.get(body.Container);
    const settings = await networking().disconnect(c, params.id!);
    await engine.containerStore.update(c.Id, (r) => {
      r.NetworkSettings = settings;
    });
    sendEmpty(res, 200);
  });
}

/** Docker's network list filters: name and id are substring/prefix matches, the rest exact. */
function matches(n: NetworkInspect, filters: Map<string, string[]>): boolean {
  for (const [key, values] of filters) {
    const ok = values.some((v) => {
      switch (key) {
        case 'name':
          return n.Name.includes(v);
        case 'id':
          return n.Id.startsWith(v);
        case 'driver':
          return n.Driver === v;
        case 'scope':
          return n.Scope === v;
        case 'type':
          if (v !== 'custom' && v !== 'builtin') throw new HttpError(400, `invalid filter: 'type'='${v}'`);
          return (v === 'builtin') === PREDEFINED.includes(n.Name);
        case 'dangling': {
          const dangling = !PREDEFINED.includes(n.Name) && Object.keys(n.Containers).length === 0;
          return ['true', '1'].includes(v) === dangling;
        }
        case 'label':
          return labelFilterMatches(n.Labels, v);
        default:
          throw new HttpError(400, `invalid filter '${key}'`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

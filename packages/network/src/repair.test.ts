import { type Logger, silentLogger } from '@ts-container/common';
import { describe, expect, it } from 'vitest';
import { repairEndpoints, repairPorts } from './repair.js';
import type { EndpointRecord, NetworkRecord, PublishedPort } from './state.js';

const network = (id: string, bridge?: string): NetworkRecord => ({
  id,
  name: `net-${id}`,
  driver: bridge ? 'bridge' : 'host',
  created: '2026-01-01T00:00:00Z',
  ...(bridge ? { bridge, subnet: '10.1.0.0/16', gateway: '10.1.0.1' } : {}),
  internal: false,
  userSubnet: false,
  labels: {},
  options: {},
});

const endpoint = (id: string, containerId: string, networkId = 'n1'): EndpointRecord => ({
  id,
  networkId,
  containerId,
  containerName: containerId,
  netnsPath: `/run/netns/${containerId}`,
  hostVeth: `veth${id}`,
  interfaceName: 'eth0',
  ipAddress: `10.1.0.${id.length + 1}`,
  prefixLen: 16,
  macAddress: '02:42:0a:01:00:02',
  aliases: [],
  dnsServers: [],
});

/** A kernel with the given veths on bridge `br1`, and a log of what repair did to it. */
function fakeKernel(existing: Set<string>, onBridge: string[]) {
  const done: string[] = [];
  const info: string[] = [];
  const logger: Logger = { ...silentLogger, info: (msg) => void info.push(msg) };
  return { done, info, logger, existing, onBridge };
}

describe('repairEndpoints', () => {
  it('drops endpoints of dead containers, of unknown networks and without veth; re-attaches the rest; removes stray veths', async () => {
    const networks = [network('n1', 'br1'), network('n2')];
    let endpoints = [
      endpoint('a', 'alive'),
      endpoint('bb', 'dead'),
      endpoint('ccc', 'noveth'),
      endpoint('dddd', 'alive', 'gone-network'),
    ];
    const kernel = fakeKernel(new Set(['vetha', 'vethbb', 'vethdddd']), ['vetha', 'vethbb', 'vethstray']);
    await repairEndpoints(networks, () => endpoints, {
      endpointExists: async (e) => kernel.existing.has(e.hostVeth),
      isAlive: async (id) => id === 'alive',
      removeEndpoint: async (e) => {
        kernel.done.push(`remove ${e.id}`);
        endpoints = endpoints.filter((x) => x.id !== e.id);
      },
      attachToBridge: async (veth, bridge) => void kernel.done.push(`attach ${veth} ${bridge}`),
      bridgePorts: async (bridge) => (bridge === 'br1' ? kernel.onBridge : []),
      deleteLink: async (name) => void kernel.done.push(`delete ${name}`),
      logger: kernel.logger,
    });
    expect(kernel.done).toEqual([
      'attach vetha br1',
      'remove bb',
      'remove ccc',
      'remove dddd',
      // vethbb is gone with its endpoint's removal in the real driver; here it is still listed, so
      // repair sees it as stray (no endpoint owns it) and deletes it.
      'delete vethbb',
      'delete vethstray',
    ]);
    expect(endpoints.map((e) => e.id)).toEqual(['a']);
    expect(kernel.info).toContain('removing stray veth');
  });

  it('keeps every endpoint whose kernel objects exist when no liveness check is given', async () => {
    const endpoints = [endpoint('a', 'x')];
    const removed: string[] = [];
    await repairEndpoints([network('n1', 'br1')], () => endpoints, {
      endpointExists: async () => true,
      removeEndpoint: async (e) => void removed.push(e.id),
      attachToBridge: async () => {},
      bridgePorts: async () => ['vetha'],
      deleteLink: async (name) => void removed.push(name),
      logger: silentLogger,
    });
    expect(removed).toEqual([]);
  });
});

describe('repairPorts', () => {
  const port = (containerId: string, containerIp: string, hostPort: number): PublishedPort => ({
    containerId,
    containerIp,
    hostIp: '0.0.0.0',
    hostPort,
    containerPort: 80,
    protocol: 'tcp',
  });

  it('keeps ports whose endpoint survived and that bind again; drops and logs the rest', async () => {
    const endpoints = [endpoint('a', 'alive')];
    const ip = endpoints[0]?.ipAddress ?? '';
    const warned: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (msg) => void warned.push(msg) };
    const bound: number[] = [];
    const kept = await repairPorts(
      [
        port('alive', ip, 8080),
        port('alive', '10.1.0.99', 8081),
        port('dead', ip, 8082),
        port('alive', ip, 8083),
      ],
      endpoints,
      async (p) => {
        if (p.hostPort === 8083) throw Object.assign(new Error('in use'), { code: 'EADDRINUSE' });
        bound.push(p.hostPort);
      },
      logger,
    );
    expect(kept.map((p) => p.hostPort)).toEqual([8080]);
    expect(bound).toEqual([8080]);
    expect(warned).toEqual(['could not restore published port']);
  });
});

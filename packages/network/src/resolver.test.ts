import { type Logger, silentLogger } from '@ts-container/common';
import { describe, expect, it } from 'vitest';
import type { DnsServerOptions } from './dns-server.js';
import { type NameServer, Resolver, dnsNames, dnsRecordNames, linkAliases } from './resolver.js';
import type { EndpointRecord, NetworkRecord } from './state.js';

const network = (name: string, id = `${name}-id`): NetworkRecord => ({
  id,
  name,
  driver: 'bridge',
  created: '2026-01-01T00:00:00Z',
  bridge: `br-${name}`,
  subnet: '10.7.0.0/16',
  gateway: '10.7.0.1',
  internal: false,
  userSubnet: false,
  labels: {},
  options: {},
});

const endpoint = (overrides: Partial<EndpointRecord> = {}): EndpointRecord => ({
  id: 'e1',
  networkId: 'backend-id',
  containerId: '0123456789ab'.padEnd(64, 'f'),
  containerName: 'web',
  netnsPath: '/run/netns/web',
  hostVeth: 'veth1234567',
  interfaceName: 'eth0',
  ipAddress: '10.7.0.2',
  prefixLen: 16,
  macAddress: '02:42:0a:07:00:02',
  aliases: ['www'],
  dnsServers: ['9.9.9.9'],
  ...overrides,
});

/** A DNS server that records what it was told, in place of EmbeddedDnsServer. */
class FakeServer implements NameServer {
  readonly calls: string[] = [];
  readonly records = new Map<string, string[]>();
  constructor(
    readonly options: DnsServerOptions,
    private readonly failStart = false,
  ) {}
  async start() {
    if (this.failStart) throw new Error('EADDRINUSE');
    this.calls.push('start');
  }
  async stop() {
    this.calls.push('stop');
  }
  addRecords(names: readonly string[], address: string, upstreams: readonly string[] = []) {
    for (const n of names) this.records.set(n, [...(this.records.get(n) ?? []), address]);
    this.calls.push(`add ${address} via ${upstreams.join(',') || '-'}`);
  }
  setLinks(address: string, aliases: ReadonlyMap<string, string>) {
    this.calls.push(`links ${address} ${[...aliases].map(([a, n]) => `${a}=${n}`).join(',')}`);
  }
  removeAddress(address: string) {
    this.calls.push(`remove ${address}`);
  }
}

function resolverWithFakes(options: { failStart?: boolean; logger?: Logger } = {}) {
  const servers: FakeServer[] = [];
  const resolver = new Resolver({
    port: 5353,
    logger: options.logger ?? silentLogger,
    createServer: (o) => {
      const server = new FakeServer(o, options.failStart);
      servers.push(server);
      return server;
    },
  });
  return { resolver, servers };
}

describe('DNS names', () => {
  it('answers for the container name, aliases and short id, also qualified with the network name', () => {
    const e = endpoint();
    expect(dnsNames(e)).toEqual(['web', 'www', '0123456789ab']);
    expect(dnsRecordNames(e, network('backend'))).toEqual([
      'web',
      'www',
      '0123456789ab',
      'web.backend',
      'www.backend',
      '0123456789ab.backend',
    ]);
  });

  it('turns links into alias → name, lower-cased, without the leading slash', () => {
    expect([...linkAliases(['/db:Store', 'cache'])]).toEqual([
      ['store', 'db'],
      ['cache', 'cache'],
    ]);
  });
});

describe('Resolver', () => {
  it('starts one server per user network on its gateway, loaded with its endpoints', async () => {
    const { resolver, servers } = resolverWithFakes();
    const backend = network('backend');
    await resolver.start(backend, [endpoint({ links: ['db:store'] })]);
    await resolver.start(backend, []); // already running: no second server
    expect(servers).toHaveLength(1);
    const [server] = servers;
    expect(server?.options).toMatchObject({ address: '10.7.0.1', port: 5353 });
    expect(server?.calls).toEqual(['start', 'add 10.7.0.2 via 9.9.9.9', 'links 10.7.0.2 store=db']);
    expect(server?.records.get('www.backend')).toEqual(['10.7.0.2']);
    expect(resolver.serves(backend.id)).toBe(true);
  });

  it('gives Docker default bridge no embedded DNS', async () => {
    const { resolver, servers } = resolverWithFakes();
    await resolver.start(network('bridge'), []);
    expect(servers).toHaveLength(0);
    expect(resolver.serves('bridge-id')).toBe(false);
  });

  it('adds and removes endpoints (IPv4 and IPv6) on their network server only', async () => {
    const { resolver, servers } = resolverWithFakes();
    const backend = network('backend');
    await resolver.start(backend, []);
    const e = endpoint({ ipv6Address: 'fd00::2', prefixLen6: 64 });
    resolver.addEndpoint(e, backend);
    resolver.addEndpoint(endpoint({ networkId: 'other-id' }), network('other')); // no server there
    resolver.removeEndpoint(e);
    expect(servers[0]?.calls).toEqual([
      'start',
      'add 10.7.0.2 via 9.9.9.9',
      'add fd00::2 via -',
      'remove 10.7.0.2',
      'remove fd00::2',
    ]);
    await resolver.stop(backend.id);
    expect(resolver.serves(backend.id)).toBe(false);
    expect(servers[0]?.calls.at(-1)).toBe('stop');
  });

  it('logs a server that cannot start and leaves the network without one', async () => {
    const warned: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (msg) => void warned.push(msg) };
    const { resolver } = resolverWithFakes({ failStart: true, logger });
    await resolver.start(network('backend'), [endpoint()]);
    expect(resolver.serves('backend-id')).toBe(false);
    expect(warned).toEqual([
      'embedded DNS server could not start; name resolution is unavailable on this network',
    ]);
  });

  it('stops every server', async () => {
    const { resolver, servers } = resolverWithFakes();
    await resolver.start(network('a'), []);
    await resolver.start(network('b'), []);
    await resolver.stopAll();
    expect(servers.map((s) => s.calls.at(-1))).toEqual(['stop', 'stop']);
    expect(resolver.serves('a-id') || resolver.serves('b-id')).toBe(false);
  });
});

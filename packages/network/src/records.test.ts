import { describe, expect, it } from 'vitest';
import { mustParseCidr } from './ipv4.js';
import {
  checkConnect,
  checkEndpointOptions,
  checkNewNetwork,
  defaultBridgeOutdated,
  defaultBridgeRecord,
  endpointRecord,
  hostVethName,
  lookupNetwork,
  missingHostAndNone,
} from './records.js';
import type { EndpointRecord, NetworkRecord } from './state.js';
import { thrown } from './test-support.js';
import type { ConnectOptions } from './types.js';
import { endpointInfo, inspectRecord, portsView } from './views.js';

const id = (c: string) => c.repeat(64);
const record = (overrides: Partial<NetworkRecord>): NetworkRecord => ({
  id: id('a'),
  name: 'backend',
  driver: 'bridge',
  created: '2026-01-01T00:00:00Z',
  bridge: 'br-backend',
  subnet: '10.3.0.0/16',
  gateway: '10.3.0.1',
  internal: false,
  userSubnet: true,
  labels: {},
  options: {},
  ...overrides,
});

describe('network records', () => {
  const networks = [record({}), record({ id: id('b'), name: 'front', bridge: 'br-front' })];

  it('looks networks up by name, id or unique id prefix, with Docker texts', () => {
    expect(lookupNetwork(networks, 'front').id).toBe(id('b'));
    expect(lookupNetwork(networks, 'aaa').name).toBe('backend');
    expect(thrown(() => lookupNetwork(networks, 'nope')).message).toBe('network nope not found');
    const twins = [record({ id: `ab${'0'.repeat(62)}` }), record({ id: `ab${'1'.repeat(62)}`, name: 'x' })];
    expect(thrown(() => lookupNetwork(twins, 'ab')).message).toBe(
      'network ab is ambiguous (2 matches found based on ID prefix)',
    );
    expect(thrown(() => lookupNetwork(networks, '')).kind).toBe('not-found');
  });

  it('checks network create as Docker does', () => {
    const planned = checkNewNetwork({ name: 'new' }, networks);
    expect(planned.driver).toBe('bridge');
    expect(planned.bridge).toBe(`br-${planned.id.slice(0, 12)}`);
    expect(
      checkNewNetwork({ name: 'n', options: { 'com.docker.network.bridge.name': 'mybr' } }, []).bridge,
    ).toBe('mybr');
    expect(thrown(() => checkNewNetwork({ name: 'backend' }, networks)).message).toBe(
      'network with name backend already exists',
    );
    expect(thrown(() => checkNewNetwork({ name: 'h', driver: 'host' }, [])).message).toBe(
      'only one instance of "host" network is allowed',
    );
    expect(thrown(() => checkNewNetwork({ name: 'm', driver: 'macvlan' }, [])).message).toBe(
      'plugin "macvlan" not found',
    );
    expect(thrown(() => checkNewNetwork({ name: 'i', ingress: true }, [])).kind).toBe('invalid-parameter');
    expect(
      thrown(() =>
        checkNewNetwork({ name: 'i2', driver: 'overlay', ingress: true }, [record({ ingress: true })]),
      ).message,
    ).toBe('ingress network already present');
    expect(thrown(() => checkNewNetwork({ name: '' }, [])).message).toBe('network name is required');
    const long = { 'com.docker.network.bridge.name': 'a-very-long-bridge' };
    expect(thrown(() => checkNewNetwork({ name: 'l', options: long }, [])).message).toBe(
      'invalid bridge name a-very-long-bridge',
    );
    const taken = { 'com.docker.network.bridge.name': 'br-front' };
    expect(thrown(() => checkNewNetwork({ name: 't', options: taken }, networks)).kind).toBe('conflict');
  });

  it('re-plans the default bridge only while it has no endpoints', () => {
    const bridge = record({ name: 'bridge', bridge: 'tsctr0' });
    const leased = [{ networkId: bridge.id } as EndpointRecord];
    expect(defaultBridgeOutdated(undefined, { name: 'tsctr0' }, [])).toBe(true);
    expect(defaultBridgeOutdated(bridge, { name: 'tsctr0' }, [])).toBe(false);
    expect(defaultBridgeOutdated(bridge, { name: 'other0' }, [])).toBe(true);
    expect(defaultBridgeOutdated(bridge, { name: 'tsctr0', subnet: '10.9.0.0/16' }, [])).toBe(true);
    expect(defaultBridgeOutdated(bridge, { name: 'other0' }, leased)).toBe(false);
    const remade = defaultBridgeRecord(
      bridge,
      { name: 'other0' },
      {
        subnet: mustParseCidr('172.17.0.0/16'),
        gateway: '172.17.0.1',
      },
    );
    expect(remade).toMatchObject({
      id: bridge.id,
      bridge: 'other0',
      subnet: '172.17.0.0/16',
      userSubnet: false,
    });
    expect(remade.options['com.docker.network.bridge.name']).toBe('other0');
    expect(missingHostAndNone([remade]).map((n) => [n.name, n.driver])).toEqual([
      ['host', 'host'],
      ['none', 'null'],
    ]);
    expect(missingHostAndNone([...missingHostAndNone([])])).toEqual([]);
  });
});

describe('endpoint records', () => {
  const options: ConnectOptions = {
    containerId: id('c'),
    containerName: '/web',
    netnsPath: '/run/netns/web',
    network: 'backend',
    aliases: ['www'],
  };

  it('checks network connect as Docker does', () => {
    const network = record({});
    expect(() => checkConnect(network, options, [])).not.toThrow();
    const host = record({ name: 'host', driver: 'host', bridge: undefined });
    expect(thrown(() => checkConnect(host, options, [])).message).toBe(
      'container cannot be disconnected from host network or connected to host network',
    );
    const swarm = record({ driver: 'overlay', scope: 'swarm' });
    expect(thrown(() => checkConnect(swarm, options, [])).message).toBe(
      'Could not attach to network backend: network backend not manually attachable',
    );
    const existing = [{ networkId: network.id, containerId: id('c') } as EndpointRecord];
    expect(thrown(() => checkConnect(network, options, existing)).message).toBe(
      'endpoint with name web already exists in network backend',
    );
    expect(thrown(() => checkConnect(record({ name: 'bridge' }), options, [])).message).toBe(
      'network-scoped alias is supported only for containers in user defined networks',
    );
    expect(thrown(() => checkEndpointOptions({ ...options, macAddress: 'zz' })).message).toBe(
      'invalid MAC address: zz',
    );
    expect(thrown(() => checkEndpointOptions({ ...options, linkLocalIps: ['x'] })).message).toBe(
      'invalid link-local IP address: x',
    );
  });

  it('builds the lease: names trimmed, MAC from the address, veth name from the endpoint id', () => {
    const network = record({});
    const e = endpointRecord(
      options,
      network,
      { id: id('e'), interfaceName: 'eth0', ipAddress: '10.3.0.2', prefixLen: 16 },
      undefined,
    );
    expect(e).toMatchObject({
      containerName: 'web',
      hostVeth: hostVethName(id('e')),
      macAddress: '02:42:0a:03:00:02',
      aliases: ['www'],
      dnsServers: [],
    });
    expect(e.hostVeth).toMatch(/^veth[0-9a-f]{7}$/);
    expect(e.ipv6Address).toBeUndefined();
    expect(endpointInfo(e, network, true)).toMatchObject({ gateway: '10.3.0.1', dnsServer: '10.3.0.1' });
    expect(endpointInfo(e, record({ internal: true }), false)).toMatchObject({ gateway: '' });
    expect(endpointInfo(e, network, false).dnsServer).toBeUndefined();
    const inspect = inspectRecord(network, [e]);
    expect(inspect.Containers[id('c')]).toMatchObject({
      Name: 'web',
      IPv4Address: '10.3.0.2/16',
      IPv6Address: '',
    });
    expect(inspect.IPAM.Config).toEqual([{ Subnet: '10.3.0.0/16', Gateway: '10.3.0.1' }]);
  });

  it("shows exposed and published ports as Docker's NetworkSettings.Ports", () => {
    const port = {
      containerId: id('c'),
      containerIp: '10.3.0.2',
      hostIp: '0.0.0.0',
      hostPort: 8080,
      containerPort: 80,
      protocol: 'tcp' as const,
    };
    expect(portsView(['80', '53/udp'], [port])).toEqual({
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }],
      '53/udp': null,
    });
  });
});

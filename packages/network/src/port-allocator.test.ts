import { describe, expect, it } from 'vitest';
import {
  type HostPortBinder,
  PortAllocator,
  findPublished,
  isAllocated,
  matchesUnpublish,
  resolvedBinding,
} from './port-allocator.js';
import type { PublishedPort } from './state.js';
import { rejection } from './test-support.js';

const C = 'c'.repeat(64);
const IP = '172.18.0.2';

/** A host where `busy` ports are held by other processes; records what it bound. */
function fakeHost(busy: Iterable<number> = [], code = 'EADDRINUSE') {
  const held = new Set(busy);
  const bound: PublishedPort[] = [];
  const binder: HostPortBinder = {
    async bind(port) {
      if (held.has(port.hostPort)) throw Object.assign(new Error('busy'), { code });
      bound.push(port);
    },
  };
  return { binder, bound };
}

const published = (hostPort: number, overrides: Partial<PublishedPort> = {}): PublishedPort => ({
  containerId: C,
  containerIp: IP,
  hostIp: '0.0.0.0',
  hostPort,
  containerPort: 80,
  protocol: 'tcp',
  ...overrides,
});

describe('PortAllocator', () => {
  it('binds a requested host port and refuses one that is taken, with Docker text', async () => {
    const { binder, bound } = fakeHost([9090]);
    const allocator = new PortAllocator({ binder });
    const port = await allocator.allocate([], C, IP, { hostPort: 8080, containerPort: 80 });
    expect(port).toEqual(published(8080));
    expect(bound).toEqual([port]);
    const inUse = await rejection(allocator.allocate([port], C, IP, { hostPort: 8080, containerPort: 81 }));
    expect([inUse.kind, inUse.message]).toEqual([
      'conflict',
      'Bind for 0.0.0.0:8080 failed: port is already allocated',
    ]);
    const byOther = await rejection(allocator.allocate([], C, IP, { hostPort: 9090, containerPort: 80 }));
    expect(byOther.message).toBe('Bind for 0.0.0.0:9090 failed: port is already allocated');
    const v6 = await rejection(
      allocator.allocate([port], C, IP, { hostIp: '::', hostPort: 8080, containerPort: 80 }),
    );
    expect(v6.message).toBe('Bind for [::]:8080 failed: port is already allocated');
  });

  it('treats wildcard addresses as conflicting with every address, per protocol', () => {
    const taken = [published(8080)];
    expect(isAllocated(taken, 'tcp', '127.0.0.1', 8080)).toBe(true);
    expect(isAllocated(taken, 'udp', '127.0.0.1', 8080)).toBe(false);
    const loopback = [published(8080, { hostIp: '127.0.0.1' })];
    expect(isAllocated(loopback, 'tcp', '127.0.0.2', 8080)).toBe(false);
    expect(isAllocated(loopback, 'tcp', '0.0.0.0', 8080)).toBe(true);
    expect(isAllocated(loopback, 'tcp', '::', 8080)).toBe(true);
  });

  it('picks a free port of a requested range, skipping taken and busy ones', async () => {
    const { binder } = fakeHost([7001]);
    const allocator = new PortAllocator({ binder, randomOffset: () => 0 });
    const request = { hostPort: 7000, hostPortEnd: 7002, containerPort: 80 };
    const port = await allocator.allocate([published(7000)], C, IP, request);
    expect(port.hostPort).toBe(7002);
    const full = await rejection(allocator.allocate([published(7000), port], C, IP, request));
    expect(full.message).toBe('Bind for 0.0.0.0:7000-7002 failed: port is already allocated');
  });

  it('takes ports without a host port from the ephemeral range, from a random start, wrapping', async () => {
    const { binder } = fakeHost();
    const allocator = new PortAllocator({
      binder,
      ephemeralRange: async () => [40000, 40003],
      randomOffset: (size) => size - 1,
    });
    const first = await allocator.allocate([], C, IP, { containerPort: 80 });
    expect(first.hostPort).toBe(40003);
    const second = await allocator.allocate([first], C, IP, { hostPort: 0, containerPort: 81 });
    expect(second.hostPort).toBe(40000);
    const taken = [40000, 40001, 40002, 40003].map((p) => published(p));
    expect((await rejection(allocator.allocate(taken, C, IP, { containerPort: 82 }))).message).toBe(
      'all ports are allocated',
    );
  });

  it('skips ports it may not bind (EACCES) but reports an address the host lacks', async () => {
    const denied = new PortAllocator({
      binder: fakeHost([50000], 'EACCES').binder,
      ephemeralRange: async () => [50000, 50001],
      randomOffset: () => 0,
    });
    expect((await denied.allocate([], C, IP, { containerPort: 80 })).hostPort).toBe(50001);
    const missing = new PortAllocator({ binder: fakeHost([8080], 'EADDRNOTAVAIL').binder });
    const err = await rejection(
      missing.allocate([], C, IP, { hostIp: '10.254.0.1', hostPort: 8080, containerPort: 80 }),
    );
    expect([err.kind, err.message]).toEqual([
      'invalid-parameter',
      'listen tcp 10.254.0.1:8080: bind: cannot assign requested address',
    ]);
  });

  it('validates addresses and ports before binding anything', async () => {
    const { binder, bound } = fakeHost();
    const allocator = new PortAllocator({ binder });
    expect(
      (await rejection(allocator.allocate([], C, IP, { hostIp: 'nope', containerPort: 80 }))).message,
    ).toBe('invalid IP address: nope');
    expect((await rejection(allocator.allocate([], C, IP, { containerPort: 70000 }))).message).toBe(
      'invalid containerPort: 70000',
    );
    expect(
      (await rejection(allocator.allocate([], C, IP, { hostPort: 70000, containerPort: 80 }))).message,
    ).toBe('invalid hostPort: 70000');
    expect(bound).toEqual([]);
  });
});

describe('published port lookups', () => {
  it('finds the port already serving a binding (publishing is idempotent)', () => {
    const ports = [published(8080), published(7001, { containerPort: 81 })];
    expect(findPublished(ports, C, IP, { containerPort: 80 })).toBe(ports[0]);
    expect(findPublished(ports, C, IP, { hostPort: 8080, containerPort: 80 })).toBe(ports[0]);
    expect(findPublished(ports, C, IP, { hostPort: 8081, containerPort: 80 })).toBeUndefined();
    expect(findPublished(ports, C, IP, { hostPort: 7000, hostPortEnd: 7005, containerPort: 81 })).toBe(
      ports[1],
    );
    expect(findPublished(ports, C, IP, { containerPort: 80, protocol: 'udp' })).toBeUndefined();
    expect(findPublished(ports, C, '172.18.0.3', { containerPort: 80 })).toBeUndefined();
  });

  it('selects what unpublish releases: all of a container, or the matching bindings', () => {
    const tcp = published(8080);
    const udp = published(8080, { protocol: 'udp' });
    const other = published(9000, { containerId: 'd'.repeat(64) });
    expect([tcp, udp, other].filter((p) => matchesUnpublish(p, C))).toEqual([tcp, udp]);
    expect(
      [tcp, udp].filter((p) => matchesUnpublish(p, C, [{ containerPort: 80, protocol: 'udp' }])),
    ).toEqual([udp]);
    expect(matchesUnpublish(tcp, C, [{ containerPort: 80, hostPort: 8081 }])).toBe(false);
    expect(matchesUnpublish(tcp, C, [{ containerPort: 80, hostIp: '127.0.0.1' }])).toBe(false);
    expect(resolvedBinding(tcp)).toEqual({
      hostIp: '0.0.0.0',
      hostPort: 8080,
      containerPort: 80,
      protocol: 'tcp',
    });
  });
});

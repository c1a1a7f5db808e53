import { describe, expect, it } from 'vitest';
import {
  type AddressPool,
  allocateIpv4,
  allocateIpv6,
  defaultSubnetPools,
  overlaySubnetPools,
  planPool,
  planPool6,
  takenSubnets,
  takenSubnets6,
} from './ipam.js';
import { formatCidr, mustParseCidr } from './ipv4.js';
import { formatCidr6 } from './ipv6.js';
import { rejection, thrown } from './test-support.js';

const noRoutes = async () => [];
const pool = (overrides: Partial<AddressPool> = {}): AddressPool => ({
  id: 'n1',
  name: 'net1',
  gateway: '10.9.0.1',
  userSubnet: true,
  ...overrides,
});

describe('IPv4 pools', () => {
  it('has Docker default pools: 172.17–31/16, then 192.168.x/20; overlays 10.0.x/24', () => {
    const pools = defaultSubnetPools().map(formatCidr);
    expect(pools[0]).toBe('172.17.0.0/16');
    expect(pools[14]).toBe('172.31.0.0/16');
    expect(pools[15]).toBe('192.168.0.0/20');
    expect(pools.at(-1)).toBe('192.168.240.0/20');
    expect(overlaySubnetPools().map(formatCidr).slice(0, 2)).toEqual(['10.0.0.0/24', '10.0.1.0/24']);
  });

  it('picks the first default pool clear of taken subnets and host routes', async () => {
    const taken = [mustParseCidr('172.17.0.0/16')];
    const planned = await planPool({}, taken, defaultSubnetPools(), async () => [
      mustParseCidr('172.18.5.0/24'),
    ]);
    expect(formatCidr(planned.subnet)).toBe('172.19.0.0/16');
    expect(planned.gateway).toBe('172.19.0.1');
    expect(planned.ipRange).toBeUndefined();
  });

  it('looks at host routes only when it has to pick', async () => {
    let asked = 0;
    const routes = async () => {
      asked++;
      return [];
    };
    await planPool({ subnet: '10.5.0.0/24' }, [], defaultSubnetPools(), routes);
    expect(asked).toBe(0);
    await planPool({}, [], defaultSubnetPools(), routes);
    expect(asked).toBe(1);
  });

  it('refuses when every default pool is taken', async () => {
    const err = await rejection(planPool({}, defaultSubnetPools(), defaultSubnetPools(), noRoutes));
    expect(err.kind).toBe('forbidden');
    expect(err.message).toMatch(/could not find an available, non-overlapping IPv4 address pool/);
  });

  it('validates a requested subnet, gateway and ip-range with Docker texts', async () => {
    const plan = (request: Parameters<typeof planPool>[0], taken = [mustParseCidr('10.1.0.0/16')]) =>
      planPool(request, taken, defaultSubnetPools(), noRoutes);
    const ok = await plan({ subnet: '10.2.0.0/16', gateway: '10.2.0.254', ipRange: '10.2.1.0/24' });
    expect(ok.gateway).toBe('10.2.0.254');
    expect(ok.ipRange && formatCidr(ok.ipRange)).toBe('10.2.1.0/24');
    expect((await rejection(plan({ subnet: '10.2.0.0/33' }))).message).toBe(
      'invalid subnet 10.2.0.0/33: invalid CIDR address: 10.2.0.0/33',
    );
    expect((await rejection(plan({ subnet: '10.2.0.0/31' }))).message).toBe(
      'subnet 10.2.0.0/31 is too small',
    );
    const overlap = await rejection(plan({ subnet: '10.1.128.0/24' }));
    expect([overlap.kind, overlap.message]).toEqual([
      'forbidden',
      'Pool overlaps with other one on this address space',
    ]);
    expect((await rejection(plan({ subnet: '10.2.0.0/16', gateway: '10.3.0.1' }))).message).toBe(
      'no matching subnet for gateway 10.3.0.1',
    );
    expect((await rejection(plan({ subnet: '10.2.0.0/16', ipRange: '10.2.0.0/15' }))).message).toBe(
      'no matching subnet for range 10.2.0.0/15',
    );
    expect((await rejection(plan({ gateway: '10.2.0.1' }))).message).toBe(
      'gateway and ip-range can only be given together with a subnet',
    );
  });

  it('lists the subnets networks hold, minus the ignored ones', () => {
    const networks = [{ id: 'a', subnet: '10.1.0.0/16' }, { id: 'b', subnet: '10.2.0.0/16' }, { id: 'c' }];
    expect(takenSubnets(networks).map(formatCidr)).toEqual(['10.1.0.0/16', '10.2.0.0/16']);
    expect(takenSubnets(networks, ['a']).map(formatCidr)).toEqual(['10.2.0.0/16']);
  });
});

describe('IPv4 addresses', () => {
  const subnet = mustParseCidr('10.9.0.0/29'); // .1 gateway, .2–.6 usable, .7 broadcast

  it('hands out the lowest free address, skipping the gateway and auxiliary addresses', () => {
    const network = pool({ auxAddresses: { router: '10.9.0.3' } });
    expect(allocateIpv4(network, subnet, [], undefined)).toBe('10.9.0.2');
    expect(allocateIpv4(network, subnet, ['10.9.0.2'], undefined)).toBe('10.9.0.4');
  });

  it('reuses a released address (a lease is the endpoint holding it)', () => {
    const leased = ['10.9.0.2', '10.9.0.3', '10.9.0.4'];
    expect(allocateIpv4(pool(), subnet, leased, undefined)).toBe('10.9.0.5');
    expect(
      allocateIpv4(
        pool(),
        subnet,
        leased.filter((ip) => ip !== '10.9.0.3'),
        undefined,
      ),
    ).toBe('10.9.0.3');
  });

  it('reports exhaustion with Docker text', () => {
    const err = thrown(() =>
      allocateIpv4(pool(), subnet, ['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6'], undefined),
    );
    expect(err.kind).toBe('unavailable');
    expect(err.message).toBe("no available IPv4 addresses on this network's address pools: net1 (n1)");
  });

  it('stays inside the ip-range', () => {
    const network = pool({ ipRange: '10.9.0.4/30' });
    expect(allocateIpv4(network, subnet, [], undefined)).toBe('10.9.0.4');
    expect(
      thrown(() => allocateIpv4(network, subnet, ['10.9.0.4', '10.9.0.5', '10.9.0.6'], undefined)).kind,
    ).toBe('unavailable');
  });

  it('checks a requested address as Docker does', () => {
    expect(allocateIpv4(pool(), subnet, [], '10.9.0.6')).toBe('10.9.0.6');
    expect(thrown(() => allocateIpv4(pool(), subnet, ['10.9.0.6'], '10.9.0.6')).message).toBe(
      'Address already in use',
    );
    expect(thrown(() => allocateIpv4(pool(), subnet, [], '10.9.0.1')).kind).toBe('conflict');
    expect(thrown(() => allocateIpv4(pool(), subnet, [], '10.9.0.7')).message).toBe(
      'no configured subnet or ip-range contain the IP address 10.9.0.7',
    );
    expect(thrown(() => allocateIpv4(pool(), subnet, [], '10.9.0')).message).toBe(
      'invalid IPv4 address: 10.9.0',
    );
    expect(thrown(() => allocateIpv4(pool({ userSubnet: false }), subnet, [], '10.9.0.2')).message).toMatch(
      /supported only when connecting to networks with user configured subnets/,
    );
  });
});

describe('IPv6', () => {
  it('validates the pool of an EnableIPv6 network (there are no default IPv6 pools)', () => {
    expect(thrown(() => planPool6({}, [])).message).toMatch(/non-overlapping IPv6 address pool/);
    const planned = planPool6({ subnet6: 'fd00:1::/64', ipRange6: 'fd00:1::100/120' }, []);
    expect(formatCidr6(planned.subnet)).toBe('fd00:1::/64');
    expect(planned.gateway).toBe('fd00:1::1');
    expect(planned.ipRange && formatCidr6(planned.ipRange)).toBe('fd00:1::100/120');
    expect(planPool6({ subnet6: 'fd00:1::/64', gateway6: 'fd00:1::fe' }, []).gateway).toBe('fd00:1::fe');
    expect(thrown(() => planPool6({ subnet6: 'fd00:1::/127' }, [])).message).toBe(
      'subnet fd00:1::/127 is too small',
    );
    expect(thrown(() => planPool6({ subnet6: 'fd00:1::/64', gateway6: 'fd00:2::1' }, [])).message).toBe(
      'no matching subnet for gateway fd00:2::1',
    );
    const taken = takenSubnets6([{ subnet6: 'fd00::/48' }, {}]);
    expect(taken).toHaveLength(1);
    expect(thrown(() => planPool6({ subnet6: 'fd00:0:0:5::/64' }, taken)).kind).toBe('forbidden');
  });

  it('allocates sequentially after the gateway, honours --ip6, and is absent on IPv4-only networks', () => {
    const network = pool({
      subnet6: 'fd00:1::/64',
      gateway6: 'fd00:1::1',
      auxAddresses6: { r: 'fd00:1::3' },
    });
    expect(allocateIpv6(network, [], undefined)).toBe('fd00:1::2');
    expect(allocateIpv6(network, ['fd00:1::2'], undefined)).toBe('fd00:1::4');
    expect(allocateIpv6(network, [], 'fd00:1::99')).toBe('fd00:1::99');
    expect(thrown(() => allocateIpv6(network, ['fd00:1::99'], 'fd00:1::99')).message).toBe(
      'Address already in use',
    );
    expect(thrown(() => allocateIpv6(network, [], 'fd00:2::1')).kind).toBe('invalid-parameter');
    expect(allocateIpv6(pool(), [], undefined)).toBeUndefined();
    expect(thrown(() => allocateIpv6(pool(), [], 'fd00:1::5')).kind).toBe('invalid-parameter');
  });

  it('starts at the ip-range and reports exhaustion', () => {
    const network = pool({ subnet6: 'fd00:1::/64', gateway6: 'fd00:1::1', ipRange6: 'fd00:1::100/127' });
    expect(allocateIpv6(network, [], undefined)).toBe('fd00:1::100');
    expect(allocateIpv6(network, ['fd00:1::100'], undefined)).toBe('fd00:1::101');
    const err = thrown(() => allocateIpv6(network, ['fd00:1::100', 'fd00:1::101'], undefined));
    expect(err.kind).toBe('unavailable');
    expect(err.message).toBe("no available IPv6 addresses on this network's address pools: net1 (n1)");
  });
});

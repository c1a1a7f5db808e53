import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { NetworkManager } from './index.js';
import {
  canRun,
  cid,
  dir,
  extraLinks,
  extraManagers,
  httpGet,
  id,
  inNetns,
  linkExists,
  manager,
  netns,
  nftTable,
  options,
  processes,
  stateOf,
  useNetnsFixture,
  waitForHttpd,
} from './netns-fixture.js';

describe.skipIf(!canRun)('NetworkManager with real namespaces', () => {
  useNetnsFixture();

  it('none mode: a new namespace has only lo, and it is up', async () => {
    const ns = await netns('none');
    const { out } = await inNetns(ns, 'ip', '-o', 'link', 'show');
    const names = out
      .trim()
      .split('\n')
      .map((l) => l.split(':')[1]?.trim());
    expect(names).toEqual(['lo']);
    expect(out).toContain('UP');
  });

  it('bridge mode: eth0 gets the leased IP, a Docker-style MAC and a default route via the gateway', async () => {
    const ns = await netns('b1');
    const endpoint = await manager.connect({
      containerId: cid(1),
      containerName: '/b1',
      netnsPath: ns,
      network: 'bridge',
    });
    const bridge = await manager.inspectNetwork('bridge');
    const gateway = bridge.IPAM.Config[0]?.Gateway;
    expect(endpoint.gateway).toBe(gateway);
    expect(endpoint.interfaceName).toBe('eth0');
    const octets = endpoint.ipAddress.split('.').map((o) => Number(o).toString(16).padStart(2, '0'));
    expect(endpoint.macAddress).toBe(`02:42:${octets.join(':')}`);

    const links = await inNetns(ns, 'ip', '-o', 'link', 'show');
    expect(
      links.out
        .trim()
        .split('\n')
        .map((l) => l.split(':')[1]?.trim().split('@')[0]),
    ).toEqual(['lo', 'eth0']);
    const addr = await inNetns(ns, 'ip', '-o', '-4', 'addr', 'show');
    expect(addr.out).toContain(`eth0    inet ${endpoint.ipAddress}/${endpoint.prefixLen}`);
    const link = await inNetns(ns, 'ip', 'link', 'show', 'eth0');
    expect(link.out).toContain(endpoint.macAddress);
    const route = await inNetns(ns, 'ip', 'route', 'show', 'default');
    expect(route.out).toContain(`default via ${gateway} dev eth0`);

    expect(bridge.Containers[cid(1)]).toMatchObject({ Name: 'b1', IPv4Address: `${endpoint.ipAddress}/16` });
    expect((await stateOf(manager)).endpoints.map((e) => e.ipAddress)).toContain(endpoint.ipAddress);
    // The container reaches the host through the gateway.
    expect((await inNetns(ns, 'busybox', 'ping', '-c1', '-W2', gateway as string)).ok).toBe(true);
  });

  describe('user-defined networks', () => {
    let nsA: string;
    let nsB: string;
    let nsC: string;
    let a: Awaited<ReturnType<NetworkManager['connect']>>;
    let b: Awaited<ReturnType<NetworkManager['connect']>>;
    let c: Awaited<ReturnType<NetworkManager['connect']>>;

    beforeAll(async () => {
      await manager.createNetwork({ name: `${id}-front`, labels: { test: id } });
      await manager.createNetwork({ name: `${id}-back` });
      nsA = await netns('a');
      nsB = await netns('b');
      nsC = await netns('c');
      a = await manager.connect({
        containerId: cid(2),
        containerName: 'alpha',
        netnsPath: nsA,
        network: `${id}-front`,
      });
      b = await manager.connect({
        containerId: cid(3),
        containerName: 'beta',
        netnsPath: nsB,
        network: `${id}-front`,
        aliases: ['db'],
      });
      c = await manager.connect({
        containerId: cid(4),
        containerName: 'gamma',
        netnsPath: nsC,
        network: `${id}-back`,
      });
    });

    it('two containers on the same network reach each other', async () => {
      expect(a.networkId).toBe(b.networkId);
      expect((await inNetns(nsA, 'busybox', 'ping', '-c1', '-W2', b.ipAddress)).ok).toBe(true);
      expect((await inNetns(nsB, 'busybox', 'ping', '-c1', '-W2', a.ipAddress)).ok).toBe(true);
    });

    it('resolves container names, aliases and short ids through the embedded DNS on the gateway', async () => {
      expect(a.dnsServer).toBe(a.gateway);
      const byName = await inNetns(nsA, 'busybox', 'nslookup', 'beta', a.gateway);
      expect(byName.out).toContain(`Address: ${b.ipAddress}`);
      const byAlias = await inNetns(nsA, 'busybox', 'nslookup', 'db', a.gateway);
      expect(byAlias.out).toContain(`Address: ${b.ipAddress}`);
      const byShortId = await inNetns(nsB, 'busybox', 'nslookup', cid(2).slice(0, 12), b.gateway);
      expect(byShortId.out).toContain(`Address: ${a.ipAddress}`);
      const qualified = await inNetns(nsA, 'busybox', 'nslookup', `beta.${id}-front`, a.gateway);
      expect(qualified.out).toContain(`Address: ${b.ipAddress}`);
      // Names of another network are not visible.
      const other = await inNetns(nsA, 'busybox', 'nslookup', 'gamma', a.gateway);
      expect(other.out).not.toContain(c.ipAddress);
    });

    it('isolates containers on different user networks, but each still reaches the host', async () => {
      expect((await inNetns(nsC, 'busybox', 'ping', '-c1', '-W1', a.ipAddress)).ok).toBe(false);
      expect((await inNetns(nsA, 'busybox', 'ping', '-c1', '-W1', c.ipAddress)).ok).toBe(false);
      expect((await inNetns(nsC, 'busybox', 'ping', '-c1', '-W2', c.gateway)).ok).toBe(true);
    });

    it('a second network becomes eth1 and keeps the first default route', async () => {
      const second = await manager.connect({
        containerId: cid(2),
        containerName: 'alpha',
        netnsPath: nsA,
        network: `${id}-back`,
      });
      expect(second.interfaceName).toBe('eth1');
      expect((await inNetns(nsA, 'ip', '-o', '-4', 'addr', 'show', 'eth1')).out).toContain(second.ipAddress);
      expect((await inNetns(nsA, 'ip', 'route', 'show', 'default')).out).toContain(
        `via ${a.gateway} dev eth0`,
      );
      // Now alpha is on both networks and reaches gamma.
      expect((await inNetns(nsA, 'busybox', 'ping', '-c1', '-W2', c.ipAddress)).ok).toBe(true);
      const settings = await manager.containerNetworkSettings(cid(2));
      expect(Object.keys(settings.Networks).sort()).toEqual([`${id}-back`, `${id}-front`]);
      await manager.disconnect(cid(2), `${id}-back`);
      expect((await inNetns(nsA, 'ip', 'link', 'show', 'eth1')).ok).toBe(false);
      // Disconnecting the network holding the default route moves it to the remaining network.
      const third = await manager.connect({
        containerId: cid(2),
        containerName: 'alpha',
        netnsPath: nsA,
        network: `${id}-back`,
      });
      await manager.disconnect(cid(2), `${id}-front`);
      expect((await inNetns(nsA, 'ip', 'route', 'show', 'default')).out).toContain(
        `via ${third.gateway} dev ${third.interfaceName}`,
      );
      a = await manager.connect({
        containerId: cid(2),
        containerName: 'alpha',
        netnsPath: nsA,
        network: `${id}-front`,
      });
      await manager.disconnect(cid(2), `${id}-back`);
    });

    it('inspect, list and the Docker errors for networks', async () => {
      const front = await manager.inspectNetwork(`${id}-front`);
      expect(front).toMatchObject({ Name: `${id}-front`, Driver: 'bridge', Scope: 'local', Internal: false });
      expect(front.Labels).toEqual({ test: id });
      expect(Object.keys(front.Containers).sort()).toEqual([cid(2), cid(3)]);
      expect((await manager.inspectNetwork(front.Id.slice(0, 12))).Name).toBe(`${id}-front`);
      const names = (await manager.listNetworks()).map((n) => n.Name);
      expect(names).toEqual(expect.arrayContaining(['bridge', 'host', 'none', `${id}-front`, `${id}-back`]));

      await expect(manager.createNetwork({ name: `${id}-front` })).rejects.toThrow(
        `network with name ${id}-front already exists`,
      );
      const subnet = front.IPAM.Config[0]?.Subnet as string;
      await expect(manager.createNetwork({ name: `${id}-overlap`, subnet })).rejects.toThrow(
        'Pool overlaps with other one on this address space',
      );
      await expect(manager.removeNetwork(`${id}-front`)).rejects.toThrow(
        `error while removing network: network ${id}-front id ${front.Id} has active endpoints`,
      );
      await expect(manager.removeNetwork('bridge')).rejects.toThrow(
        'bridge is a pre-defined network and cannot be removed',
      );
      await expect(manager.resolveNetworkMode('nosuch')).rejects.toThrow('network nosuch not found');
      await expect(
        manager.connect({
          containerId: cid(3),
          containerName: 'beta',
          netnsPath: nsB,
          network: `${id}-front`,
        }),
      ).rejects.toThrow(`endpoint with name beta already exists in network ${id}-front`);
      expect(await manager.resolveNetworkMode(`${id}-back`)).toMatchObject({
        kind: 'network',
        networkName: `${id}-back`,
      });
      expect(await manager.resolveNetworkMode('container:web')).toEqual({
        kind: 'container',
        container: 'web',
      });
      expect(await manager.resolveNetworkMode('host')).toEqual({ kind: 'host' });
      const nsX = await netns('errors');
      await expect(
        manager.connect({
          containerId: cid(9),
          containerName: 'x',
          netnsPath: nsX,
          network: 'bridge',
          aliases: ['y'],
        }),
      ).rejects.toThrow('network-scoped alias is supported only for containers in user defined networks');
      await expect(
        manager.connect({
          containerId: cid(9),
          containerName: 'x',
          netnsPath: nsX,
          network: 'bridge',
          ipv4Address: '172.17.0.99',
        }),
      ).rejects.toThrow(
        'user specified IP address is supported only when connecting to networks with user configured subnets',
      );
      await expect(
        manager.connect({ containerId: cid(9), containerName: 'x', netnsPath: nsX, network: 'host' }),
      ).rejects.toThrow('container cannot be disconnected from host network or connected to host network');
      await expect(manager.disconnect(cid(9), 'bridge')).rejects.toThrow(
        `container ${cid(9)} is not connected to network bridge`,
      );
      // Failed connects leave no lease behind.
      expect((await stateOf(manager)).endpoints.some((e) => e.containerId === cid(9))).toBe(false);
    });
  });

  it('overlay networks: swarm scope on a local bridge, one ingress, containers only when attachable', async () => {
    const open = await manager.createNetwork({ name: `${id}-ov`, driver: 'overlay', attachable: true });
    expect(open).toMatchObject({ Driver: 'overlay', Scope: 'swarm', Attachable: true, Ingress: false });
    expect(open.IPAM.Config[0]?.Subnet).toMatch(/^10\.0\.\d+\.0\/24$/);
    expect(await linkExists(`br-${open.Id.slice(0, 12)}`)).toBe(true);
    const ingress = await manager.createNetwork({ name: `${id}-in`, driver: 'overlay', ingress: true });
    expect(ingress).toMatchObject({ Scope: 'swarm', Attachable: false, Ingress: true });
    await expect(
      manager.createNetwork({ name: `${id}-in2`, driver: 'overlay', ingress: true }),
    ).rejects.toMatchObject({ kind: 'conflict', message: 'ingress network already present' });
    await expect(manager.createNetwork({ name: `${id}-bi`, ingress: true })).rejects.toMatchObject({
      kind: 'invalid-parameter',
    });
    const [a, b, c] = [await netns('ova'), await netns('ovb'), await netns('ovc')];
    await manager.connect({ containerId: cid(7), containerName: '/ova', netnsPath: a, network: `${id}-ov` });
    const eb = await manager.connect({
      containerId: cid(8),
      containerName: '/ovb',
      netnsPath: b,
      network: `${id}-ov`,
    });
    expect((await inNetns(a, 'busybox', 'ping', '-c', '1', '-W', '5', eb.ipAddress)).ok).toBe(true);
    await expect(
      manager.connect({ containerId: cid(9), containerName: '/ovc', netnsPath: c, network: `${id}-in` }),
    ).rejects.toMatchObject({
      kind: 'forbidden',
      message: `Could not attach to network ${id}-in: network ${id}-in not manually attachable`,
    });
    await manager.disconnect(cid(7), `${id}-ov`);
    await manager.disconnect(cid(8), `${id}-ov`);
    await manager.removeNetwork(`${id}-ov`);
    await manager.removeNetwork(`${id}-in`);
    expect(await linkExists(`br-${open.Id.slice(0, 12)}`)).toBe(false);
  });

  it('removing networks removes their bridge, DNS server and rules', async () => {
    for (const name of [`${id}-front`, `${id}-back`]) {
      const network = await manager.inspectNetwork(name);
      for (const container of Object.keys(network.Containers)) await manager.disconnect(container, name);
      await manager.removeNetwork(name);
      expect(
        await linkExists(
          network.Options['com.docker.network.bridge.name'] ?? `br-${network.Id.slice(0, 12)}`,
        ),
      ).toBe(false);
      expect(await nftTable(id)).not.toContain(`br-${network.Id.slice(0, 12)}`);
    }
    expect(await manager.pruneNetworks()).toEqual([]);
    await manager.createNetwork({ name: `${id}-prune` });
    expect(await manager.pruneNetworks()).toEqual([`${id}-prune`]);
  });

  it('keeps the address a default bridge device already has, for a second state dir on it too (as dockerd keeps docker0’s)', async () => {
    const device = `${id}k`;
    await execa('ip', ['link', 'add', 'name', device, 'type', 'bridge']);
    extraLinks.push(device);
    await execa('ip', ['addr', 'add', '10.213.7.1/24', 'dev', device]);
    for (const stateSuffix of ['k', 'k2']) {
      const other = new NetworkManager({ ...options(stateSuffix), defaultBridge: { name: device } });
      extraManagers.push(other);
      await other.init();
      const bridge = await other.inspectNetwork('bridge');
      expect(bridge.IPAM.Config).toEqual([{ Subnet: '10.213.7.0/24', Gateway: '10.213.7.1' }]);
    }
    const { stdout } = await execa('ip', ['-4', '-o', 'addr', 'show', 'dev', device]);
    expect(stdout.trim().split('\n')).toHaveLength(1);
  });

  it('init() after a crash removes endpoints of dead containers, half-made leases, stray veths, stale rules and temp files', async () => {
    const opts = options('c');
    const first = new NetworkManager(opts);
    extraManagers.push(first);
    await first.init();
    const dead = await netns('dead');
    const alive = await netns('alive');
    const deadEp = await first.connect({
      containerId: cid(1),
      containerName: 'dead',
      netnsPath: dead,
      network: 'bridge',
    });
    const aliveEp = await first.connect({
      containerId: cid(2),
      containerName: 'alive',
      netnsPath: alive,
      network: 'bridge',
    });
    const [deadPort] = await first.publishPorts(cid(1), deadEp.ipAddress, [{ containerPort: 80 }]);
    const [alivePort] = await first.publishPorts(cid(2), aliveEp.ipAddress, [{ containerPort: 80 }]);
    const www = join(dir, 'alive-www');
    await mkdir(www, { recursive: true });
    await writeFile(join(www, 'index.html'), 'still alive\n');
    processes.push(
      spawn('nsenter', [`--net=${alive}`, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], {
        stdio: 'ignore',
      }),
    );
    const stateBefore = await stateOf(first);
    const deadVeth = stateBefore.endpoints.find((e) => e.containerId === cid(1))?.hostVeth as string;
    // Leftovers of a crash: a veth nobody recorded on our bridge, a half-written state file.
    const stray = `s${id}`.slice(0, 15);
    await execa('ip', ['link', 'add', stray, 'type', 'veth', 'peer', 'name', `p${id}`.slice(0, 15)]);
    extraLinks.push(stray);
    await execa('ip', ['link', 'set', stray, 'master', `${id}c`]);
    await writeFile(`${first.stateFile}.dead.tmp`, '{"version":1,"netw');
    // The daemon dies: its in-process listeners go away, kernel state stays. The "dead" container's
    // process is gone but its veth lingers (its namespace file was leaked).
    await first.close();
    // A connect killed between saving the lease and creating the veth: a lease with no veth.
    const saved = JSON.parse(await readFile(first.stateFile, 'utf8'));
    const halfConnected = {
      ...saved.endpoints[1],
      id: 'e'.repeat(64),
      containerId: cid(3),
      hostVeth: 'vethdead000',
      ipAddress: '172.31.255.250',
    };
    saved.endpoints.push(halfConnected);
    await writeFile(first.stateFile, JSON.stringify(saved));

    const second = new NetworkManager(opts);
    extraManagers.push(second);
    await second.init({ isEndpointAlive: (containerId) => containerId !== cid(1) });

    expect(await linkExists(deadVeth)).toBe(false);
    expect(await linkExists(stray)).toBe(false);
    const state = await stateOf(second);
    expect(state.endpoints.map((e) => e.containerId)).toEqual([cid(2)]);
    expect(state.ports).toEqual([
      {
        containerId: cid(2),
        containerIp: aliveEp.ipAddress,
        hostIp: '0.0.0.0',
        hostPort: alivePort?.hostPort,
        containerPort: 80,
        protocol: 'tcp',
      },
    ]);
    const table = (await nftTable(`${id}c`)) as string;
    expect(table).not.toContain(`dnat to ${deadEp.ipAddress}`);
    expect(table).not.toContain(`dport ${deadPort?.hostPort} `);
    expect(table).toContain(`dnat to ${aliveEp.ipAddress}:80`);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(opts.stateDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // The surviving container keeps its address and its published port is served again.
    expect((await inNetns(alive, 'ip', '-o', '-4', 'addr', 'show', 'eth0')).out).toContain(aliveEp.ipAddress);
    await waitForHttpd(alive);
    expect(await httpGet(`http://127.0.0.1:${alivePort?.hostPort}/`)).toBe('still alive\n');

    await second.teardown();
    expect(await linkExists(`${id}c`)).toBe(false);
    expect(await nftTable(`${id}c`)).toBeUndefined();
  });
});

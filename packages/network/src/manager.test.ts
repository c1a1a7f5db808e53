import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NetworkManager,
  type NetworkManagerOptions,
  createNetns,
  parsePortSpec,
  removeNetns,
} from './index.js';

const isRoot = process.getuid?.() === 0;
const tools = ['ip', 'nft', 'busybox', 'nsenter', 'unshare'];
const missing = (
  await Promise.all(
    tools.map(async (t) => ((await execa('which', [t], { reject: false })).exitCode === 0 ? '' : t)),
  )
).filter(Boolean);
const canRun = isRoot && missing.length === 0;
if (!canRun) {
  console.warn(
    `skipping network integration tests: ${isRoot ? `missing tools: ${missing.join(', ')}` : 'not root'}`,
  );
}

const id = `tst${process.pid}`;
const octet = process.pid % 250;
const cid = (n: number) => `${String(n).repeat(12)}${'f'.repeat(52)}`.slice(0, 64);

/** Runs a command inside a namespace; resolves with exit code and output (never throws). */
async function inNetns(path: string, ...command: string[]) {
  const r = await execa('nsenter', [`--net=${path}`, ...command], { reject: false, timeout: 20_000 });
  return { ok: r.exitCode === 0, out: `${r.stdout}\n${r.stderr}` };
}

async function httpGet(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return response.text();
}

/** Waits until an HTTP server answers on port 80 inside the namespace. */
async function waitForHttpd(path: string) {
  for (let i = 0; i < 50; i++) {
    if ((await inNetns(path, 'busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1/')).ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`httpd in ${path} did not start`);
}

async function linkExists(name: string) {
  return (await execa('ip', ['link', 'show', 'dev', name], { reject: false })).exitCode === 0;
}

async function nftTable(table: string) {
  const r = await execa('nft', ['list', 'table', 'ip', table], { reject: false });
  return r.exitCode === 0 ? r.stdout : undefined;
}

async function stateOf(manager: NetworkManager) {
  return JSON.parse(await readFile(manager.stateFile, 'utf8')) as {
    endpoints: { containerId: string; ipAddress: string; hostVeth: string }[];
    ports: unknown[];
    networks: { name: string }[];
  };
}

describe.skipIf(!canRun)('NetworkManager with real namespaces', () => {
  let dir: string;
  let manager: NetworkManager;
  const namespaces: string[] = [];
  const processes: ChildProcess[] = [];
  const servers: Server[] = [];
  const extraManagers: NetworkManager[] = [];
  const extraLinks: string[] = [];

  const options = (suffix = ''): NetworkManagerOptions => ({
    stateDir: join(dir, `state${suffix}`),
    defaultBridge: { name: `${id}${suffix}` },
    firewallTable: `${id}${suffix}`,
  });

  async function netns(name: string) {
    const path = join(dir, 'netns', name);
    await createNetns(path);
    namespaces.push(path);
    return path;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsctr-network-'));
    manager = new NetworkManager(options());
    await manager.init();
  });

  afterAll(async () => {
    for (const child of processes) child.kill('SIGKILL');
    for (const server of servers) server.close();
    await manager?.teardown();
    for (const m of extraManagers) await m.teardown();
    for (const link of extraLinks) await execa('ip', ['link', 'del', link], { reject: false });
    for (const path of namespaces) await removeNetns(path);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

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

  describe('outbound traffic', () => {
    // An "outside" host: a namespace behind a host veth, with no route back to container subnets,
    // so a reply only arrives if the container's traffic was masqueraded.
    let outside: string;
    const outsideIp = `10.214.${octet}.2`;

    beforeAll(async () => {
      outside = await netns('outside');
      const hostEnd = `o${id}`.slice(0, 15);
      extraLinks.push(hostEnd);
      await execa('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside]);
      await execa('ip', ['addr', 'add', `10.214.${octet}.1/30`, 'dev', hostEnd]);
      await execa('ip', ['link', 'set', hostEnd, 'up']);
      await inNetns(outside, 'ip', 'addr', 'add', `${outsideIp}/30`, 'dev', 'eth0');
      await inNetns(outside, 'ip', 'link', 'set', 'eth0', 'up');
    });

    it('a server on the bridge gateway is reached from inside, and the outside through NAT', async () => {
      const ns = await netns('out');
      const ep = await manager.connect({
        containerId: cid(6),
        containerName: 'out',
        netnsPath: ns,
        network: 'bridge',
      });
      const server = createServer((_req, res) => res.end('hello from the host'));
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, ep.gateway, resolve));
      const port = (server.address() as { port: number }).port;
      const got = await inNetns(ns, 'busybox', 'wget', '-q', '-O', '-', `http://${ep.gateway}:${port}/`);
      expect(got.out).toContain('hello from the host');
      expect((await inNetns(ns, 'busybox', 'ping', '-c1', '-W3', outsideIp)).ok).toBe(true);
      await manager.disconnectAll(cid(6));
    });

    it('internal networks get no default route and cannot leave the bridge', async () => {
      const network = await manager.createNetwork({
        name: `${id}-int`,
        internal: true,
        subnet: `10.213.${octet}.0/24`,
      });
      expect(network.Internal).toBe(true);
      const ns = await netns('internal');
      const ep = await manager.connect({
        containerId: cid(5),
        containerName: 'int',
        netnsPath: ns,
        network: `${id}-int`,
        ipv4Address: `10.213.${octet}.50`,
      });
      expect(ep.ipAddress).toBe(`10.213.${octet}.50`);
      expect(ep.gateway).toBe('');
      expect((await inNetns(ns, 'ip', 'route', 'show', 'default')).out.trim()).toBe('');
      // Even a container that adds its own default route cannot get out: the forward rules drop it.
      await inNetns(ns, 'ip', 'route', 'add', 'default', 'via', `10.213.${octet}.1`);
      expect((await inNetns(ns, 'busybox', 'ping', '-c1', '-W1', outsideIp)).ok).toBe(false);
      // The host itself (and so the embedded DNS on the gateway) stays reachable.
      expect((await inNetns(ns, 'busybox', 'ping', '-c1', '-W2', `10.213.${octet}.1`)).ok).toBe(true);
      await expect(
        manager.connect({
          containerId: cid(6),
          containerName: 'x',
          netnsPath: ns,
          network: `${id}-int`,
          ipv4Address: `10.213.${octet}.50`,
        }),
      ).rejects.toThrow('Address already in use');
      await manager.disconnectAll(cid(5));
      await manager.removeNetwork(`${id}-int`);
    });
  });

  describe('port publishing', () => {
    let ns: string;
    let ip: string;
    let hostAddress: string;

    beforeAll(async () => {
      ns = await netns('web');
      const ep = await manager.connect({
        containerId: cid(7),
        containerName: 'web',
        netnsPath: ns,
        network: 'bridge',
      });
      ip = ep.ipAddress;
      hostAddress = ep.gateway;
      const www = join(dir, 'www');
      await mkdir(www, { recursive: true });
      await writeFile(join(www, 'index.html'), 'hello from busybox httpd\n');
      const httpd = spawn('nsenter', [`--net=${ns}`, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], {
        stdio: 'ignore',
      });
      processes.push(httpd);
      await waitForHttpd(ns);
    });

    it('a random host port reaches httpd via 127.0.0.1 (userland proxy) and the host address (kernel DNAT)', async () => {
      const [binding] = await manager.publishPorts(cid(7), ip, [{ containerPort: 80, protocol: 'tcp' }]);
      if (!binding) throw new Error('no binding');
      const [low, high] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'))
        .trim()
        .split(/\s+/)
        .map(Number);
      expect(binding.hostPort).toBeGreaterThanOrEqual(low as number);
      expect(binding.hostPort).toBeLessThanOrEqual(high as number);
      expect(binding).toMatchObject({ hostIp: '0.0.0.0', containerPort: 80, protocol: 'tcp' });

      expect(await httpGet(`http://127.0.0.1:${binding.hostPort}/`)).toBe('hello from busybox httpd\n');
      const before = await manager.dnatPacketCount(binding.hostPort);
      expect(await httpGet(`http://${hostAddress}:${binding.hostPort}/`)).toBe('hello from busybox httpd\n');
      expect(await manager.dnatPacketCount(binding.hostPort)).toBeGreaterThan(before);

      // Idempotent: the same request returns the same binding.
      expect(await manager.publishPorts(cid(7), ip, [{ containerPort: 80, protocol: 'tcp' }])).toEqual([
        binding,
      ]);
      expect(await manager.listPorts(cid(7))).toEqual([binding]);
      const settings = await manager.containerNetworkSettings(cid(7));
      expect(settings.Ports['80/tcp']).toEqual([{ HostIp: '0.0.0.0', HostPort: String(binding.hostPort) }]);

      // Another container asking for the same host port gets Docker's error.
      await expect(
        manager.publishPorts(cid(8), '172.31.255.254', [{ hostPort: binding.hostPort, containerPort: 80 }]),
      ).rejects.toThrow(`Bind for 0.0.0.0:${binding.hostPort} failed: port is already allocated`);
    });

    it('a fixed host port from a -p spec, on the host primary address too', async () => {
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const free = (probe.address() as { port: number }).port;
      await new Promise((r) => probe.close(r));
      const mappings = parsePortSpec(`${free}:80/tcp`);
      const [binding] = await manager.publishPorts(cid(7), ip, mappings);
      expect(binding?.hostPort).toBe(free);
      expect(await httpGet(`http://127.0.0.1:${free}/`)).toBe('hello from busybox httpd\n');
      const route = JSON.parse(
        (await execa('ip', ['-j', 'route', 'get', '1.1.1.1'], { reject: false })).stdout || '[]',
      );
      const primary = route[0]?.prefsrc as string | undefined;
      if (primary) {
        const before = await manager.dnatPacketCount(free);
        expect(await httpGet(`http://${primary}:${free}/`)).toBe('hello from busybox httpd\n');
        expect(await manager.dnatPacketCount(free)).toBeGreaterThan(before);
      }
      // A port some other process holds is reported the Docker way.
      const holder = createServer();
      servers.push(holder);
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      const held = (holder.address() as { port: number }).port;
      await expect(
        manager.publishPorts(cid(7), ip, [{ hostIp: '127.0.0.1', hostPort: held, containerPort: 81 }]),
      ).rejects.toThrow(`Bind for 127.0.0.1:${held} failed: port is already allocated`);
    });

    it('publishes UDP through the userland proxy and kernel DNAT', async () => {
      const echo = spawn(
        'nsenter',
        [
          `--net=${ns}`,
          process.execPath,
          '-e',
          "require('node:dgram').createSocket('udp4').on('message', function (m, r) { this.send(m, r.port, r.address); }).bind(9053)",
        ],
        { stdio: 'ignore' },
      );
      processes.push(echo);
      const [binding] = await manager.publishPorts(cid(7), ip, parsePortSpec('9053/udp'));
      const port = binding?.hostPort as number;
      expect(binding?.protocol).toBe('udp');
      const roundTrip = async (address: string) => {
        const { createSocket } = await import('node:dgram');
        const socket = createSocket('udp4');
        try {
          // Retry: the echo server may still be starting, and UDP has no connection to wait for.
          for (let i = 0; i < 50; i++) {
            const reply = await new Promise<string | undefined>((resolve) => {
              const onMessage = (m: Buffer) => {
                clearTimeout(timer);
                resolve(m.toString());
              };
              const timer = setTimeout(() => {
                socket.off('message', onMessage);
                resolve(undefined);
              }, 200);
              socket.once('message', onMessage);
              socket.send(`ping ${i}`, port, address);
            });
            if (reply?.startsWith('ping')) return reply;
          }
          return undefined;
        } finally {
          socket.close();
        }
      };
      expect(await roundTrip('127.0.0.1')).toMatch(/^ping \d+$/);
      const before = await manager.dnatPacketCount(port, 'udp');
      expect(await roundTrip(hostAddress)).toMatch(/^ping \d+$/);
      expect(await manager.dnatPacketCount(port, 'udp')).toBeGreaterThan(before);
    });

    it('unpublish and disconnect leave no veth, rule, listener or lease behind', async () => {
      const ports = await manager.listPorts(cid(7));
      expect(ports.length).toBeGreaterThan(0);
      const veth = (await stateOf(manager)).endpoints.find((e) => e.containerId === cid(7))
        ?.hostVeth as string;
      expect(await linkExists(veth)).toBe(true);

      await manager.unpublishPorts(cid(7));
      expect(await manager.listPorts(cid(7))).toEqual([]);
      const table = (await nftTable(id)) as string;
      expect(table).not.toContain(`dnat to ${ip}`);
      for (const port of ports) {
        await expect(httpGet(`http://127.0.0.1:${port.hostPort}/`)).rejects.toThrow();
      }

      await manager.disconnect(cid(7), 'bridge');
      expect(await linkExists(veth)).toBe(false);
      expect((await inNetns(ns, 'ip', 'link', 'show', 'eth0')).ok).toBe(false);
      const state = await stateOf(manager);
      expect(state.endpoints.some((e) => e.containerId === cid(7))).toBe(false);
      expect(state.ports).toEqual([]);
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

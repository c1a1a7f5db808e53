import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePortSpec } from './index.js';
import {
  canRun,
  cid,
  dir,
  extraLinks,
  httpGet,
  id,
  inNetns,
  linkExists,
  manager,
  netns,
  nftTable,
  octet,
  processes,
  servers,
  stateOf,
  useNetnsFixture,
  waitForHttpd,
} from './netns-fixture.js';

describe.skipIf(!canRun)('NetworkManager with real namespaces: outbound NAT and published ports', () => {
  useNetnsFixture();

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
});

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FirewallBackend, NetworkManager, createNetns, removeNetns } from './index.js';

const isRoot = process.getuid?.() === 0;
const hasTools = (
  await Promise.all(
    ['iptables', 'iptables-restore', 'nft', 'busybox', 'nsenter'].map(
      async (t) => (await execa('which', [t], { reject: false })).exitCode === 0,
    ),
  )
).every(Boolean);
if (!isRoot || !hasTools)
  console.warn('skipping firewall backend tests: needs root, iptables, nft, busybox and nsenter');

async function inNetns(path: string, ...command: string[]) {
  const r = await execa('nsenter', [`--net=${path}`, ...command], { reject: false, timeout: 20_000 });
  return r.exitCode === 0;
}

async function httpGet(url: string): Promise<string> {
  return (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
}

/** One manager variant: a container running busybox httpd on a user network, and one on another network. */
function backendSuite(label: string, backend: FirewallBackend, userlandProxy: boolean, suffix: string) {
  describe.skipIf(!isRoot || !hasTools)(label, () => {
    const name = `tf${process.pid}${suffix}`.slice(0, 15);
    let dir: string;
    let manager: NetworkManager;
    let httpd: ChildProcess | undefined;
    const namespaces: string[] = [];
    let webIp = '';
    let webGateway = '';
    let otherNs = '';

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tsctr-fw-'));
      manager = new NetworkManager({
        stateDir: join(dir, 'state'),
        defaultBridge: { name },
        firewallTable: name,
        firewallBackend: backend,
        userlandProxy,
      });
      await manager.init();
      expect(manager.firewallBackend).toBe(backend);
      await manager.createNetwork({ name: `${name}-a` });
      await manager.createNetwork({ name: `${name}-b` });
      const web = join(dir, 'web');
      otherNs = join(dir, 'other');
      for (const ns of [web, otherNs]) {
        await createNetns(ns);
        namespaces.push(ns);
      }
      const ep = await manager.connect({
        containerId: 'a'.repeat(64),
        containerName: 'web',
        netnsPath: web,
        network: `${name}-a`,
      });
      await manager.connect({
        containerId: 'b'.repeat(64),
        containerName: 'other',
        netnsPath: otherNs,
        network: `${name}-b`,
      });
      webIp = ep.ipAddress;
      webGateway = ep.gateway;
      const www = join(dir, 'www');
      await mkdir(www);
      await writeFile(join(www, 'index.html'), 'ok\n');
      httpd = spawn('nsenter', [`--net=${web}`, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], {
        stdio: 'ignore',
      });
      for (
        let i = 0;
        i < 50 && !(await inNetns(web, 'busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1/'));
        i++
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    afterAll(async () => {
      httpd?.kill('SIGKILL');
      await manager?.teardown();
      for (const ns of namespaces) await removeNetns(ns);
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('publishes a port reachable on loopback and on the host address through DNAT', async () => {
      const [binding] = await manager.publishPorts('a'.repeat(64), webIp, [{ containerPort: 80 }]);
      const port = binding?.hostPort as number;
      let before = await manager.dnatPacketCount(port);
      expect(await httpGet(`http://127.0.0.1:${port}/`)).toBe('ok\n');
      if (!userlandProxy) {
        // Without the proxy, loopback is served by the kernel too.
        expect(await manager.dnatPacketCount(port)).toBeGreaterThan(before);
      }
      before = await manager.dnatPacketCount(port);
      expect(await httpGet(`http://${webGateway}:${port}/`)).toBe('ok\n');
      expect(await manager.dnatPacketCount(port)).toBeGreaterThan(before);
      // The host port stays reserved even without a forwarding proxy.
      await expect(
        manager.publishPorts('c'.repeat(64), webIp, [{ hostPort: port, containerPort: 80 }]),
      ).rejects.toThrow(`Bind for 0.0.0.0:${port} failed: port is already allocated`);
    });

    it('isolates the two networks', async () => {
      expect(await inNetns(otherNs, 'busybox', 'ping', '-c1', '-W1', webIp)).toBe(false);
    });

    it('teardown removes every rule', async () => {
      await manager.teardown();
      if (backend === 'nft') {
        expect((await execa('nft', ['list', 'table', 'ip', name], { reject: false })).exitCode).not.toBe(0);
      } else {
        const nat = await execa('iptables-save', ['-t', 'nat']);
        const filter = await execa('iptables-save', ['-t', 'filter']);
        expect(nat.stdout).not.toContain(name.toUpperCase());
        expect(filter.stdout).not.toContain(name.toUpperCase());
      }
    });
  });
}

// iptables-nft creates the kernel's `ip nat`/`ip filter` tables on first use; drop them afterwards
// if they did not exist before and are still empty, so the host is left as it was found.
const tablesBefore = isRoot && hasTools ? (await execa('nft', ['list', 'tables'])).stdout : '';
afterAll(async () => {
  if (!isRoot || !hasTools) return;
  const rules = (await execa('iptables-save', [], { reject: false })).stdout;
  if (/^-A /m.test(rules)) return;
  for (const table of ['nat', 'filter']) {
    if (!tablesBefore.includes(`table ip ${table}\n`) && !tablesBefore.endsWith(`table ip ${table}`)) {
      await execa('nft', ['delete', 'table', 'ip', table], { reject: false });
    }
  }
});

backendSuite('iptables backend with the userland proxy', 'iptables', true, 'i');
backendSuite('nft backend without the userland proxy (route_localnet DNAT)', 'nft', false, 'n');

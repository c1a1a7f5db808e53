import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import {
  NetworkManager,
  buildResolvConf,
  createNetns,
  formatPortBinding,
  parsePortSpec,
  removeNetns,
} from './index.js';

const isRoot = process.getuid?.() === 0;
const hasTools =
  (await execa('which', ['ip', 'nft', 'nsenter', 'unshare'], { reject: false })).exitCode === 0;
if (!isRoot || !hasTools)
  console.warn('skipping README example: needs root, iproute2, nftables and util-linux');

// The README's example, with private names and paths.
describe.skipIf(!isRoot || !hasTools)('README example', () => {
  const name = `trd${process.pid}`.slice(0, 15);
  let dir = '';
  let manager: NetworkManager | undefined;
  let netnsPath = '';

  afterAll(async () => {
    await manager?.teardown();
    if (netnsPath) await removeNetns(netnsPath);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsctr-readme-'));
    manager = new NetworkManager({
      stateDir: join(dir, 'network'),
      defaultBridge: { name },
      firewallTable: name,
      userlandProxy: true,
    });
    await manager.init({ isEndpointAlive: async () => false });
    await manager.createNetwork({ name: `${name}-backend` });

    netnsPath = join(dir, 'netns', 'abc123');
    await createNetns(netnsPath);
    const containerId = 'abc123'.padEnd(64, '0');
    const endpoint = await manager.connect({
      containerId,
      containerName: 'web',
      netnsPath,
      network: `${name}-backend`,
      aliases: ['www'],
    });
    expect(endpoint.interfaceName).toBe('eth0');
    expect(endpoint.dnsServer).toBe(endpoint.gateway);

    const [port] = await manager.publishPorts(
      containerId,
      endpoint.ipAddress,
      parsePortSpec('127.0.0.1::80/tcp'),
    );
    expect(port && formatPortBinding(port)).toMatch(/^80\/tcp -> 127\.0\.0\.1:\d+$/);

    const resolvConf = buildResolvConf({
      mode: 'user-network',
      hostResolvConf: await readFile('/etc/resolv.conf', 'utf8'),
      embeddedDnsAddress: endpoint.dnsServer,
    });
    expect(resolvConf.content).toContain(`nameserver ${endpoint.gateway}\n`);

    await manager.disconnectAll(containerId);
    expect(await manager.listPorts(containerId)).toEqual([]);
    await manager.close();
  });
});

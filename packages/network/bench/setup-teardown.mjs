#!/usr/bin/env node
// Time to set up and tear down one container's bridge networking, the way the engine does it on
// every start/stop: namespace file, veth on the default bridge with an address, then removal.
// Needs root and a build (`pnpm --filter @ts-container/network build`).
// Usage: node packages/network/bench/setup-teardown.mjs [iterations] [--publish]
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { NetworkManager, createNetns, removeNetns } from '../dist/index.js';

const iterations = Number(process.argv[2] ?? 50);
const publish = process.argv.includes('--publish');
const dir = await mkdtemp(join(tmpdir(), 'tsctr-netbench-'));
const bridge = `nb${process.pid % 100000}`;
const manager = new NetworkManager({
  stateDir: join(dir, 'state'),
  defaultBridge: { name: bridge },
  firewallTable: `tsctr_${bridge}`,
});
await manager.init();
const setup = [];
const teardown = [];
try {
  for (let i = 0; i < iterations; i++) {
    const id = randomBytes(32).toString('hex');
    const netns = join(dir, 'netns', id);
    let t = performance.now();
    await createNetns(netns);
    const endpoint = await manager.connect({
      containerId: id,
      containerName: `/b${i}`,
      netnsPath: netns,
      network: 'bridge',
    });
    if (publish)
      await manager.publishPorts(id, endpoint.ipAddress, [{ hostIp: '127.0.0.1', containerPort: 80 }]);
    setup.push(performance.now() - t);
    t = performance.now();
    await manager.disconnectAll(id);
    await removeNetns(netns);
    teardown.push(performance.now() - t);
  }
} finally {
  await manager.teardown();
  await rm(dir, { recursive: true, force: true });
}
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1);
  return `median ${q(0.5)} ms, p90 ${q(0.9)} ms, min ${s[0].toFixed(1)} ms`;
};
const total = setup.map((v, i) => v + (teardown[i] ?? 0));
console.log(`bridge networking, ${iterations} containers${publish ? ' (with one published port)' : ''}`);
console.log(`  setup:    ${stats(setup)}`);
console.log(`  teardown: ${stats(teardown)}`);
console.log(`  total:    ${stats(total)}`);

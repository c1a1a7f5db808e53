import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerRecord } from './container-store.js';
import { cgroupVersion, sampleStats } from './stats.js';

// This machine is cgroup v1 (hybrid): a v2 host's files are written here as the kernel lays them out.
describe('stats on a cgroup v2 host', () => {
  let root: string;
  const container = { Id: 'c2', Name: '/v2', State: { Pid: 0 } } as unknown as ContainerRecord;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'cgroup2-'));
    const dir = join(root, 'tsctr', 'c2');
    await mkdir(dir, { recursive: true });
    const files: Record<string, string> = {
      'cgroup.controllers': 'cpuset cpu io memory pids\n',
      'tsctr/c2/memory.current': '10485760\n',
      'tsctr/c2/memory.peak': '20971520\n',
      'tsctr/c2/memory.max': '67108864\n',
      'tsctr/c2/memory.stat': 'anon 4096\nfile 8192\ninactive_file 1024\n',
      'tsctr/c2/cpu.stat':
        'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\nthrottled_usec 30\n',
      'tsctr/c2/pids.current': '3\n',
      'tsctr/c2/pids.max': '100\n',
      'tsctr/c2/io.stat': '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n',
    };
    for (const [name, text] of Object.entries(files)) await writeFile(join(root, name), text);
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('tells the versions apart', async () => {
    expect(await cgroupVersion(root)).toBe(2);
    expect(await cgroupVersion(join(root, 'tsctr'))).toBe(1);
  });

  it('reads one directory in the units Docker reports for v2', async () => {
    const s = await sampleStats(container, '/tsctr/c2', root);
    expect(s.memory_stats).toEqual({
      usage: 10485760,
      max_usage: 20971520,
      limit: Math.min(67108864, totalmem()),
      stats: { anon: 4096, file: 8192, inactive_file: 1024 },
    });
    expect(s.cpu_stats.cpu_usage).toEqual({
      total_usage: 1_500_000,
      usage_in_usermode: 1_000_000,
      usage_in_kernelmode: 500_000,
    });
    expect(s.cpu_stats.throttling_data).toEqual({ periods: 7, throttled_periods: 2, throttled_time: 30_000 });
    expect(s.pids_stats).toEqual({ current: 3, limit: 100 });
    expect(s.blkio_stats.io_service_bytes_recursive).toEqual([
      { major: 8, minor: 0, op: 'read', value: 4096 },
      { major: 8, minor: 0, op: 'write', value: 8192 },
    ]);
    expect(s.blkio_stats.io_serviced_recursive?.map((e) => e.value)).toEqual([1, 2]);
  });

  it('shows the host memory as the limit of an unlimited container', async () => {
    await writeFile(join(root, 'tsctr/c2/memory.max'), 'max\n');
    expect((await sampleStats(container, '/tsctr/c2', root)).memory_stats.limit).toBe(totalmem());
  });
});

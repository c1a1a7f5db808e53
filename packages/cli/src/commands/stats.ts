import { bytesSize, humanSize as humanSize3 } from '@ts-container/common';
import { type Command, write } from '../context.js';
import { renderTable } from '../table.js';

interface StatsDoc {
  read: string;
  name: string;
  id: string;
  pids_stats: { current?: number };
  blkio_stats: { io_service_bytes_recursive: { op: string; value: number }[] | null };
  cpu_stats: {
    cpu_usage: { total_usage: number; percpu_usage?: number[] };
    system_cpu_usage?: number;
    online_cpus?: number;
  };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

/** One row of `docker stats`, computed as the docker CLI does (cgroup v1). */
export function statsRow(s: StatsDoc): string[] {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const cpu = systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0;
  // The CLI leaves the page cache that could be reclaimed out of "usage".
  const inactive = s.memory_stats.stats?.total_inactive_file ?? 0;
  const usage = Math.max(0, (s.memory_stats.usage ?? 0) - inactive);
  const limit = s.memory_stats.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let read = 0;
  let written = 0;
  for (const e of s.blkio_stats.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === 'read') read += e.value;
    if (e.op.toLowerCase() === 'write') written += e.value;
  }
  const running = s.read !== '0001-01-01T00:00:00Z';
  return [
    s.id.slice(0, 12),
    s.name.replace(/^\//, ''),
    running ? `${cpu.toFixed(2)}%` : '--',
    running ? `${bytesSize(usage)} / ${bytesSize(limit)}` : '-- / --',
    running ? `${limit > 0 ? ((usage / limit) * 100).toFixed(2) : '0.00'}%` : '--',
    running ? `${humanSize3(rx)} / ${humanSize3(tx)}` : '--',
    running ? `${humanSize3(read)} / ${humanSize3(written)}` : '--',
    running ? String(s.pids_stats.current ?? 0) : '--',
  ];
}

const HEADER = [
  'CONTAINER ID',
  'NAME',
  'CPU %',
  'MEM USAGE / LIMIT',
  'MEM %',
  'NET I/O',
  'BLOCK I/O',
  'PIDS',
];

export const statsCommand: Command = {
  name: 'stats',
  aliases: ['container stats'],
  usage: 'stats [OPTIONS] [CONTAINER...]',
  description: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      description: 'Show all containers (default shows just running)',
    },
    {
      name: 'no-stream',
      type: 'bool',
      description: 'Disable streaming stats and only pull the first result',
    },
    { name: 'no-trunc', type: 'bool', description: 'Do not truncate output' },
  ],
  async run(ctx, args, flags) {
    let refs = args;
    if (refs.length === 0) {
      const list = await ctx.client.containerList({ all: flags.all === true });
      refs = list.map((c) => c.Id);
    }
    const sample = async () =>
      Promise.all(
        refs.map((r) =>
          ctx.client.request<StatsDoc>('GET', `/containers/${encodeURIComponent(r)}/stats`, {
            query: { stream: 0 },
          }),
        ),
      );
    const print = (docs: StatsDoc[]) =>
      write(ctx.io.stdout, renderTable([HEADER, ...docs.map((d) => statsRow(d))]));
    if (flags['no-stream'] === true) {
      print(await sample());
      return 0;
    }
    // Streaming: redraw the table about once a second, as the docker CLI does, until interrupted.
    for (;;) {
      const docs = await sample();
      ctx.io.stdout.write('\x1b[2J\x1b[H');
      print(docs);
      await new Promise((r) => setTimeout(r, 500));
    }
  },
};

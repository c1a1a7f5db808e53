// Single operations on an idle engine: CLI start-up, API round trips, run, exec, logs, ps.
import {
  ENGINES,
  ENGINE_IDS,
  ensureBusybox,
  reasonOf,
  removeSeeded,
  rmForce,
  rounds,
  seedContainers,
  slug,
} from './common.mjs';
import { unixRequest } from './proc.mjs';
import { summarize } from './stats.mjs';

export const WORKLOADS = [
  {
    id: 'cli',
    title: 'CLI start-up (`--version`, no daemon round trip)',
    async run(ctx) {
      return [
        {
          id: 'cli-version',
          title: 'CLI start-up: `--version`',
          unit: 'ms',
          results: await rounds(ctx, {
            reps: ctx.reps * 2,
            op: async (e) => (await e.cli(['--version'])).ms,
          }),
        },
      ];
    },
  },
  {
    id: 'api',
    title: 'Daemon request latency over the socket (no CLI)',
    async run(ctx) {
      const rows = [];
      for (const [path, title] of [
        ['/_ping', 'API `GET /_ping`'],
        ['/containers/json?all=1', 'API `GET /containers/json?all=1` (0 containers)'],
      ]) {
        rows.push({
          id: `api-${path === '/_ping' ? 'ping' : 'containers'}`,
          title,
          unit: 'ms',
          note: 'median of 50 requests per sample, up to 31 samples per engine within 2 s; podman has no daemon',
          results: await rounds(ctx, {
            engines: ['tsctr', 'docker', 'podman'],
            extra: ctx.apiExtra,
            op: async (e) => {
              if (!e.socketPath) throw new Error('no daemon (podman is daemonless)');
              const times = [];
              for (let i = 0; i < 50; i++) {
                const r = await unixRequest(e.socketPath, 'GET', path);
                if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
                times.push(r.ms);
              }
              return summarize(times).median;
            },
          }),
        });
      }
      return rows;
    },
  },
  {
    id: 'run',
    title: '`run --rm --network none busybox true`',
    async run(ctx) {
      await ensureBusybox(ctx);
      return [
        {
          id: 'run',
          title: '`run --rm --network none busybox true`',
          unit: 'ms',
          results: await rounds(ctx, {
            engines: ENGINE_IDS,
            reps: ctx.reps * 2,
            op: async (e) => (await e.cli(['run', '--rm', '--network', 'none', 'busybox', 'true'])).ms,
          }),
        },
      ];
    },
  },
  {
    id: 'run-bridge',
    title: '`run --rm busybox true` on the default bridge network',
    async run(ctx) {
      await ensureBusybox(ctx);
      return [
        {
          id: 'run-bridge',
          title: '`run --rm busybox true` (default bridge network)',
          unit: 'ms',
          note: 'dockerd runs with --iptables=false (no NAT rules); ours and podman set up NAT',
          results: await rounds(ctx, {
            engines: ENGINE_IDS,
            op: async (e) => (await e.cli(['run', '--rm', 'busybox', 'true'])).ms,
          }),
        },
      ];
    },
  },
  {
    id: 'exec',
    title: '`exec` latency',
    async run(ctx) {
      await ensureBusybox(ctx);
      const name = (e) => `bench-exec-${slug(e)}`;
      const started = new Set();
      const results = await rounds(ctx, {
        engines: ENGINE_IDS,
        reps: ctx.reps * 2,
        op: async (e) => {
          if (!started.has(e.id)) {
            await e.cli(['run', '-d', '--network', 'none', '--name', name(e), 'busybox', 'sleep', '3600']);
            started.add(e.id);
          }
          return (await e.cli(['exec', name(e), 'true'])).ms;
        },
      });
      for (const id of started) await rmForce(ctx.engines[id], [name(ctx.engines[id])]);
      return [{ id: 'exec', title: '`exec CONTAINER true`', unit: 'ms', results }];
    },
  },
];

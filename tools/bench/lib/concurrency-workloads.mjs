// Load from many clients: 8 concurrent docker-CLI clients for a fixed time doing a mix of
// `run --rm`, `run -d` + `rm -f`, `exec`, `ps -a` and `logs`, one engine at a time (the engines
// would otherwise compete for the same two cores). Reports operations per second, p50/p95 latency
// per operation and errors, and checks that nothing was left behind.
import { ensureBusybox, reasonOf, rmForce, slug } from './common.mjs';
import { round } from './stats.mjs';

/** The engines driven by the same docker CLI (podman by its own CLI, which has the same verbs). */
const LOAD_ENGINES = ['docker→tsctrd', 'docker', 'podman'];

function percentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const OPS = [
  {
    id: 'run --rm',
    do: (e) => e.cli(['run', '--rm', '--network', 'none', 'busybox', 'true']),
  },
  {
    id: 'run -d + rm -f',
    do: async (e) => {
      const id = (await e.cli(['run', '-d', '--network', 'none', 'busybox', 'sleep', '60'])).stdout.trim();
      await e.cli(['rm', '-f', id]);
    },
  },
  { id: 'exec', do: (e, names) => e.cli(['exec', names.exec, 'true']) },
  { id: 'ps -a', do: (e) => e.cli(['ps', '-a']) },
  {
    id: 'logs',
    do: async (e, names) => {
      const r = await e.cli(['logs', names.logs]);
      if (!r.stdout.endsWith('1000\n'))
        throw new Error(`logs ended with ${JSON.stringify(r.stdout.slice(-20))}`);
    },
  },
];

async function containerCount(e) {
  return (await e.cli(['ps', '-aq'])).stdout.split('\n').filter(Boolean).length;
}

/** One engine under `clients` concurrent clients for `seconds`. */
async function loadEngine(e, { clients, seconds }) {
  const names = { exec: `bench-load-exec-${slug(e)}`, logs: `bench-load-logs-${slug(e)}` };
  await e.cli(['run', '-d', '--network', 'none', '--name', names.exec, 'busybox', 'sleep', '3600']);
  await e.cli(['run', '-d', '--network', 'none', '--name', names.logs, 'busybox', 'seq', '1', '1000']);
  await e.cli(['wait', names.logs]);
  const before = await containerCount(e);
  const perOp = Object.fromEntries(OPS.map((op) => [op.id, { ms: [], errors: 0, firstError: undefined }]));
  const start = Date.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let i = client; Date.now() < deadline; i++) {
        const op = OPS[i % OPS.length];
        const slot = perOp[op.id];
        const t = process.hrtime.bigint();
        try {
          await op.do(e, names);
          slot.ms.push(Number(process.hrtime.bigint() - t) / 1e6);
        } catch (err) {
          slot.errors++;
          slot.firstError ??= reasonOf(err);
        }
      }
    }),
  );
  const elapsed = (Date.now() - start) / 1000;
  // Leftovers: a `run -d` whose `rm -f` failed, or a `run --rm` that was not removed.
  const after = await containerCount(e);
  await rmForce(e, [names.exec, names.logs]);
  const ops = Object.values(perOp).reduce((n, s) => n + s.ms.length, 0);
  const errors = Object.values(perOp).reduce((n, s) => n + s.errors, 0);
  const byOp = {};
  for (const [id, s] of Object.entries(perOp)) {
    const sorted = [...s.ms].sort((a, b) => a - b);
    byOp[id] = {
      n: sorted.length,
      p50: round(percentile(sorted, 50)),
      p95: round(percentile(sorted, 95)),
      errors: s.errors,
      ...(s.firstError ? { firstError: s.firstError } : {}),
    };
  }
  return {
    opsPerSecond: round(ops / elapsed),
    ops,
    errors,
    leftovers: after - before,
    seconds: round(elapsed),
    byOp,
  };
}

export const WORKLOADS = [
  {
    id: 'concurrency',
    aliases: ['load'],
    title: 'load: 8 concurrent clients doing run --rm, run -d + rm -f, exec, ps -a, logs',
    async run(ctx) {
      await ensureBusybox(ctx);
      const clients = 8;
      const seconds = ctx.quick ? 15 : 60;
      const results = {};
      for (const id of LOAD_ENGINES) {
        const e = ctx.engines[id];
        if (!e) {
          results[id] = { skipped: ctx.unavailable[id] ?? 'not selected' };
          continue;
        }
        try {
          results[id] = await loadEngine(e, { clients, seconds });
          ctx.log?.(`  concurrency ${id}: ${JSON.stringify(results[id])}`);
        } catch (err) {
          results[id] = { skipped: reasonOf(err) };
        }
      }
      const cell = (r) =>
        r.skipped
          ? undefined
          : {
              n: 1,
              samples: [r.opsPerSecond],
              median: r.opsPerSecond,
              min: r.opsPerSecond,
              max: r.opsPerSecond,
            };
      const note = `${clients} clients for ${seconds} s, each cycling through the 5 operations; higher is better, so the ratio column reads the other way (below 1: we do fewer operations)`;
      const throughput = {
        id: 'concurrency-ops',
        ours: 'docker→tsctrd',
        title: `load: operations per second, ${clients} concurrent docker CLI clients`,
        unit: 'ops/s',
        note,
        results: Object.fromEntries(Object.entries(results).map(([id, r]) => [id, cell(r) ?? r])),
      };
      const columns = ['operation', ...LOAD_ENGINES.map((id) => `${id}: p50 / p95 ms (n, errors)`)];
      const rows = OPS.map((op) => [
        `\`${op.id}\``,
        ...LOAD_ENGINES.map((id) => {
          const r = results[id];
          if (r.skipped) return `not run: ${r.skipped}`;
          const o = r.byOp[op.id];
          return `${o.p50 ?? '–'} / ${o.p95 ?? '–'} (${o.n}, ${o.errors}${o.firstError ? `: ${o.firstError.slice(0, 120)}` : ''})`;
        }),
      ]);
      rows.push([
        'all: ops/s, errors, containers left behind',
        ...LOAD_ENGINES.map((id) => {
          const r = results[id];
          return r.skipped ? '–' : `${r.opsPerSecond} ops/s, ${r.errors} errors, ${r.leftovers} left`;
        }),
      ]);
      return [
        throughput,
        {
          id: 'concurrency-latency',
          kind: 'table',
          title: `Under load: ${clients} concurrent clients for ${seconds} s`,
          columns,
          rows,
          data: results,
        },
      ];
    },
  },
];

#!/usr/bin/env node
// `pnpm bench [WORKLOAD…] [--reps N] [--engines tsctr,docker,podman] [--quick] [--out DIR]`
// Runs the benchmark suite against our daemon and, when installed, Docker and Podman, all on
// private temp roots, and writes results/latest.{md,json} (full runs) or results/partial.*.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DockerCliOnTsctr,
  DockerEngine,
  PodmanEngine,
  TsctrEngine,
  commandExists,
  sweep,
} from './lib/engines.mjs';
import { withTimeout } from './lib/proc.mjs';
import { charts, machineInfo, markdown, withRatios } from './lib/report.mjs';
import { WORKLOADS, recordIdleMemory, selectWorkloads } from './lib/workloads.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    reps: { type: 'string' },
    engines: { type: 'string', default: 'tsctr,docker,podman' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(`usage: pnpm bench [WORKLOAD…] [--reps N] [--engines tsctr,docker,podman] [--quick] [--out DIR]
workloads: ${WORKLOADS.map((w) => w.id).join(', ')}

Columns: tsctr (ours: our Node CLI), docker CLI → tsctrd (the docker CLI, same commands as the
Docker column, against our daemon; for builds the same classic builder), Docker, Podman.
"best of ours" names the better of our two columns in each row; the ratios "best ours/Docker"
and "best ours/Podman" divide its median by theirs (above 1: slower or bigger; for ops/s and
MB/s, below 1: less). The report opens with a summary generated from the table: every row where
the best of ours is behind the better of Docker and Podman, and the extraction verdict (ours vs
tar -x in 3 consecutive rounds). See tools/bench/README.md.`);
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  console.error('bench: needs root (containers, mounts, cgroups)');
  process.exit(1);
}

const workloads = selectWorkloads(positionals);
const quick = values.quick;
const settings = {
  reps: Number(values.reps ?? (quick ? 2 : 5)),
  /** Repetitions of the workloads that take seconds each (build, commit, save/load, pull/push): 3 unless `--reps` says. */
  heavyReps: values.reps !== undefined ? Number(values.reps) : quick ? 2 : 3,
  containers: quick ? 10 : 50,
  /** Repetitions per size of the scaling curves (2, with a warm-up at the first size: the curves are many points, and the suite must stay within 25 minutes). */
  curveReps: values.reps !== undefined ? Number(values.reps) : 2,
  /**
   * More runs of a curve's cheap sizes (a CLI query of ~15 ms, where one scheduling hiccup moves
   * a median of 2 by 10%): up to 7 while the size's runs of every engine stay within 3 s.
   */
  curveExtra: values.reps !== undefined || quick ? undefined : { upTo: 7, withinMs: 3000 },
  /** The same for the heavy workloads' cheap rows (a fully cached build): up to 7 runs within 4 s. */
  cheapExtra: values.reps !== undefined || quick ? undefined : { upTo: 7, withinMs: 4000 },
  /**
   * The same for the API round trips: a sample (50 requests) takes ~10 ms, so 5 samples spanned
   * 50 ms of the run and one busy moment of the VM moved the median by 15% (0.19–0.26 ms in one
   * run, 0.14 in another); up to 31 samples per engine within 2 s.
   */
  apiExtra: values.reps !== undefined || quick ? undefined : { upTo: 31, withinMs: 2000 },
  extractMb: quick ? 20 : 200,
};
const full = positionals.length === 0 && !quick;
const outDir = resolve(values.out ?? join(HERE, 'results'));
const outName = full || values.out ? 'latest' : 'partial';

const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

const root = await mkdtemp(join(tmpdir(), 'tsctr-bench-'));
const wanted = new Set(values.engines.split(',').map((s) => s.trim()));
const candidates = [new TsctrEngine(), new DockerEngine(), new PodmanEngine()].filter((e) =>
  wanted.has(e.id),
);
const ctx = { root, engines: {}, unavailable: {}, cleanups: [], quick, log, ...settings };
const started = [];

let cleaning;
async function cleanup() {
  cleaning ??= (async () => {
    for (const fn of ctx.cleanups.reverse())
      await withTimeout(fn(), 30_000, 'cleanup').catch((e) => log(`cleanup: ${e.message}`));
    for (const e of started.reverse()) {
      log(`stopping ${e.id}`);
      await withTimeout(e.stop(), 180_000, `stopping ${e.id}`).catch((err) => log(err.message));
    }
    await withTimeout(sweep(), 30_000, 'sweep').catch((e) => log(e.message));
    await rm(root, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

const t0 = Date.now();
const loadStart = loadavg()[0];
const rows = [];
try {
  for (const e of candidates) {
    const why = await e.available();
    if (why) {
      log(`${e.id}: not run (${why})`);
      ctx.unavailable[e.id] = why;
      continue;
    }
    log(`starting ${e.id}`);
    started.push(e);
    try {
      await e.start(root);
      ctx.engines[e.id] = e;
    } catch (err) {
      ctx.unavailable[e.id] = `did not start: ${err.message.slice(0, 300)}`;
      log(`${e.id}: ${ctx.unavailable[e.id]}`);
    }
  }
  for (const id of ['tsctr', 'docker', 'podman'])
    if (!wanted.has(id)) ctx.unavailable[id] = 'not selected (--engines)';
  if (ctx.engines.tsctr && (await commandExists('docker'))) {
    const dockerConfig = join(root, 'docker-config');
    await mkdir(dockerConfig, { recursive: true });
    ctx.engines['docker→tsctrd'] = new DockerCliOnTsctr(ctx.engines.tsctr, dockerConfig);
  } else ctx.unavailable['docker→tsctrd'] = ctx.unavailable.tsctr ?? 'no docker CLI';

  if (workloads.some((w) => w.id === 'lifecycle')) await recordIdleMemory(ctx);
  for (const w of workloads) {
    const t = Date.now();
    log(`${w.id}: ${w.title}`);
    try {
      const got = await w.run(ctx);
      for (const row of got) {
        rows.push({ workload: w.id, ...row });
        for (const [id, r] of Object.entries(row.results ?? {})) {
          log(
            `  ${row.id} ${id}: ${r.skipped ? `skipped (${r.skipped})` : `median ${r.median} ${row.unit} (${r.min}–${r.max})`}`,
          );
        }
        if (row.figures)
          log(`  ${row.id}: ${JSON.stringify(row.figures)}${row.skipped ? ` skipped: ${row.skipped}` : ''}`);
      }
    } catch (err) {
      log(`${w.id} failed: ${err.stack ?? err}`);
      rows.push({
        workload: w.id,
        id: w.id,
        kind: 'micro',
        title: w.title,
        unit: '',
        skipped: `failed: ${err.message}`,
      });
    }
    log(`${w.id}: ${Math.round((Date.now() - t) / 1000)} s`);
  }
} finally {
  await cleanup();
}

const engines = {};
for (const id of ['tsctr', 'docker→tsctrd', 'docker', 'podman']) {
  const e = ctx.engines[id];
  engines[id] = e
    ? { label: e.label, version: e.version }
    : { skipped: ctx.unavailable[id] ?? 'not selected' };
}
const report = {
  name: outName,
  date: new Date().toISOString(),
  durationSeconds: (Date.now() - t0) / 1000,
  loadAverage: { start: Math.round(loadStart * 10) / 10, end: Math.round(loadavg()[0] * 10) / 10 },
  machine: await machineInfo(),
  settings: { ...settings, workloads: workloads.map((w) => w.id) },
  engines,
  rows: withRatios(rows),
};
const md = markdown(report);
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, `${outName}.json`), `${JSON.stringify(report, null, 2)}\n`);
await writeFile(join(outDir, `${outName}.md`), md);
for (const chart of charts(report)) {
  await mkdir(join(outDir, 'charts'), { recursive: true });
  await writeFile(join(outDir, chart.path), chart.svg);
}
process.stdout.write(`${md}\n`);
log(`wrote ${join(outDir, `${outName}.md`)} and .json`);
// Pending grace-period timers from the shutdown must not hold the process open.
process.exit(0);

// How cost grows: each curve measures one operation at several sizes in one run, engines
// interleaved at each size (one unrecorded warm-up run at the first size only), and becomes a `curve` row (a table, an SVG chart and the local
// exponents between sizes in the report).
import { rm } from 'node:fs/promises';
import {
  ENGINES,
  ENGINE_IDS,
  ensureBusybox,
  reasonOf,
  removeSeeded,
  rmForce,
  rmi,
  rounds,
  seedContainers,
  slug,
} from './common.mjs';
import { layeredImageArchive, manyImagesArchive } from './fixtures.mjs';

/** The same engine seen through two CLIs shares its seeded state. */
const stateOf = (id) => (id === 'docker→tsctrd' ? 'tsctr' : id);

/** Curves whose cost should not depend on the size at all (the report names where they grow). */
const FLAT = new Set(['scale-run', 'scale-image-inspect', 'scale-logs-tail']);

/** A curve row from per-size `rounds` results: series[engine][i] is the cell at sizes[i]. */
function curve(id, title, xLabel, unit, sizes, perSize, note) {
  const series = {};
  for (const e of ENGINE_IDS) {
    if (!perSize.some((r) => r?.[e])) continue;
    series[e] = perSize.map((r) => {
      const c = r?.[e];
      if (!c || c.skipped) return c && { skipped: c.skipped };
      return { n: c.n, median: c.median, min: c.min, max: c.max };
    });
  }
  const expect = FLAT.has(id) ? { expect: 'flat' } : {};
  return { id, kind: 'curve', title, xLabel, unit, sizes, series, ...expect, ...(note ? { note } : {}) };
}

/** An operation slower than this at one size is not tried at larger sizes (the suite must end in time). */
const SLOW_MS = 20_000;
/** A timed operation is killed (and its engine skipped at that size) after this long. */
const OP_LIMIT_MS = 60_000;
/** Seeding one size that takes longer than this stops the engine's curve there. */
const SEED_LIMIT_MS = 120_000;

/**
 * Per-curve state: `failed[engine]` when its state could not be made, `slow[engine]` = the size
 * at which one operation took longer than SLOW_MS.
 */
const newState = () => ({ failed: {}, slow: {} });

/** True when the engine is skipped at this size (failed, or slow at a smaller size). */
const skips = (state, id, size) =>
  !!state.failed[id] || (state.slow[id] !== undefined && state.slow[id] < size);

/** Wraps a timed op: skips engines `skips` rules out, with the reason, and notes slow ones. */
function guarded(state, size, op) {
  return async (e, rep) => {
    const id = stateOf(e.id);
    if (state.failed[id]) throw new Error(state.failed[id]);
    if (skips(state, id, size))
      throw new Error(`not tried: an operation took over ${SLOW_MS / 1000} s at ${state.slow[id]}`);
    const ms = await op(e, rep);
    if (ms > SLOW_MS) state.slow[id] ??= size;
    return ms;
  };
}

/** One size of a curve: every engine, the curve's repetitions, a warm-up run at the first size only. */
function curveRound(ctx, state, levels, level, op) {
  return rounds(ctx, {
    engines: ENGINE_IDS,
    reps: ctx.curveReps,
    extra: ctx.curveExtra,
    warmup: level === levels[0] ? 1 : 0,
    op: guarded(state, level, op),
  });
}

async function containersCurve(ctx) {
  await ensureBusybox(ctx);
  const levels = ctx.quick ? [0, 20, 100] : [0, 100, 1000, 3000];
  const seeded = {};
  const state = newState();
  const { failed } = state;
  const runRm = [];
  const ps = [];
  for (const level of levels) {
    for (const id of ENGINES) {
      const e = ctx.engines[id];
      if (!e || skips(state, id, level)) continue;
      try {
        const t = Date.now();
        await seedContainers(e, seeded[id] ?? 0, level);
        seeded[id] = level;
        if (Date.now() - t > SEED_LIMIT_MS) state.slow[id] ??= level;
      } catch (err) {
        failed[id] = `seeding ${level} containers: ${reasonOf(err)}`;
      }
      // A podman API service left running would compete with the timed podman commands.
      await e.stopService?.();
    }
    ctx.log?.(`  ${level} containers present`);
    ps.push(
      await curveRound(ctx, state, levels, level, async (e) => {
        const r = await e.cli(['ps', '-a'], { timeoutMs: OP_LIMIT_MS });
        const lines = r.stdout.trim().split('\n').length - 1;
        if (lines !== level) throw new Error(`ps -a listed ${lines} containers, expected ${level}`);
        return r.ms;
      }),
    );
    runRm.push(
      await curveRound(
        ctx,
        state,
        levels,
        level,
        async (e) => (await e.cli(['run', '--rm', '--network', 'none', 'busybox', 'true'])).ms,
      ),
    );
  }
  for (const id of ENGINES)
    if (ctx.engines[id] && seeded[id]) await removeSeeded(ctx.engines[id], seeded[id]);
  const note = 'stopped containers made through each engine’s API (podman: its API service) before timing';
  return [
    curve('scale-ps', '`ps -a` by containers present', 'containers', 'ms', levels, ps, note),
    curve(
      'scale-run',
      '`run --rm --network none busybox true` by containers present',
      'containers',
      'ms',
      levels,
      runRm,
      note,
    ),
  ];
}

async function imagesCurve(ctx) {
  await ensureBusybox(ctx);
  const levels = ctx.quick ? [10, 50, 200] : [10, 100, 1000];
  const state = newState();
  const { failed } = state;
  const list = [];
  const inspect = [];
  let have = 0;
  const archives = [];
  for (const level of levels) {
    const a = await manyImagesArchive(ctx.root, have, level);
    archives.push(a);
    for (const id of ENGINES) {
      const e = ctx.engines[id];
      if (!e || skips(state, id, level)) continue;
      await e.cli(['load', '-q', '-i', a.path], { timeoutMs: 600_000 }).catch((err) => {
        failed[id] = `loading ${level} images: ${reasonOf(err)}`;
      });
    }
    have = level;
    ctx.log?.(`  ${level} images present`);
    list.push(
      await curveRound(ctx, state, levels, level, async (e) => {
        const r = await e.cli(['images'], { timeoutMs: OP_LIMIT_MS });
        const lines = r.stdout.trim().split('\n').length - 1;
        if (lines < level) throw new Error(`images listed ${lines}, expected at least ${level}`);
        return r.ms;
      }),
    );
    inspect.push(
      await curveRound(
        ctx,
        state,
        levels,
        level,
        async (e) => (await e.cli(['image', 'inspect', `bench/img-${level - 1}:latest`])).ms,
      ),
    );
  }
  const refs = archives.flatMap((a) => a.refs);
  for (const id of ENGINES) {
    const e = ctx.engines[id];
    if (!e) continue;
    for (let i = 0; i < refs.length; i += 200) await rmi(e, refs.slice(i, i + 200));
  }
  for (const a of archives) await rm(a.dir, { recursive: true, force: true });
  const note = 'images made by one `load` per size of an archive of images of one tiny layer each';
  return [
    curve('scale-images', '`images` by images present', 'images', 'ms', levels, list, note),
    curve('scale-image-inspect', '`image inspect` by images present', 'images', 'ms', levels, inspect, note),
  ];
}

async function layersCurve(ctx) {
  await ensureBusybox(ctx);
  const levels = [1, 10, 100, 125];
  const perSize = [];
  const state = newState();
  for (const n of levels) {
    const img = await layeredImageArchive(ctx.root, ctx.busyboxTar, n);
    ctx.log?.(`  ${n} layers`);
    for (const id of ENGINES) {
      const e = ctx.engines[id];
      if (e && !skips(state, id, n))
        await e.cli(['load', '-q', '-i', img.path], { timeoutMs: 300_000 }).catch((err) => {
          state.failed[id] = `loading ${n} layers: ${reasonOf(err)}`;
        });
    }
    perSize.push(
      await curveRound(
        ctx,
        state,
        levels,
        n,
        async (e) => (await e.cli(['run', '--rm', '--network', 'none', img.ref, 'true'])).ms,
      ),
    );
    for (const id of ENGINES) if (ctx.engines[id]) await rmi(ctx.engines[id], [img.ref]);
    await rm(img.dir, { recursive: true, force: true });
  }
  return [
    curve(
      'scale-layers',
      '`run --rm` (snapshot prepare + mount + run) by image layers',
      'layers',
      'ms',
      levels,
      perSize,
      'busybox plus N−1 one-file layers; our unionfs alone: see the storage benchmark',
    ),
  ];
}

async function logsCurve(ctx) {
  await ensureBusybox(ctx);
  const levels = ctx.quick ? [1000, 10_000, 100_000] : [10_000, 100_000, 1_000_000];
  const full = [];
  const tail = [];
  const state = newState();
  for (const lines of levels) {
    const name = (e) => `bench-logs-${lines}-${slug(e)}`;
    for (const id of ENGINES) {
      const e = ctx.engines[id];
      if (!e || skips(state, id, lines)) continue;
      try {
        await e.cli([
          'run',
          '-d',
          '--network',
          'none',
          '--name',
          name(e),
          'busybox',
          'seq',
          '1',
          String(lines),
        ]);
        await e.cli(['wait', name(e)], { timeoutMs: 600_000 });
      } catch (err) {
        state.failed[id] = `making the log of ${lines} lines: ${reasonOf(err)}`;
      }
    }
    ctx.log?.(`  ${lines} lines logged`);
    const target = (e) => name(ctx.engines[stateOf(e.id)]);
    full.push(
      await curveRound(ctx, state, levels, lines, async (e) => {
        const r = await e.cli(['logs', target(e)], { timeoutMs: OP_LIMIT_MS });
        if (!r.stdout.endsWith(`\n${lines}\n`)) throw new Error(`logs did not end with line ${lines}`);
        return r.ms;
      }),
    );
    tail.push(
      await curveRound(ctx, state, levels, lines, async (e) => {
        const r = await e.cli(['logs', '--tail', '10', target(e)], { timeoutMs: OP_LIMIT_MS });
        const got = r.stdout.trim().split('\n');
        if (got.length !== 10 || got[9] !== String(lines))
          throw new Error(`logs --tail 10 printed ${got.length} lines ending ${got.at(-1)}`);
        return r.ms;
      }),
    );
    for (const id of ENGINES) if (ctx.engines[id]) await rmForce(ctx.engines[id], [name(ctx.engines[id])]);
  }
  const note = 'a container that ran `seq 1 N`; `logs` checks the last line, `--tail 10` the count';
  return [
    curve('scale-logs', '`logs` by lines logged', 'lines', 'ms', levels, full, note),
    curve('scale-logs-tail', '`logs --tail 10` by lines logged', 'lines', 'ms', levels, tail, note),
  ];
}

export const WORKLOADS = [
  {
    id: 'scale-containers',
    aliases: ['ps'],
    group: 'scaling',
    title: '`ps -a` and `run --rm` with 0 / 100 / 1,000 / 3,000 containers present',
    run: containersCurve,
  },
  {
    id: 'scale-images',
    group: 'scaling',
    title: '`images` and `image inspect` with 10 / 100 / 1,000 images',
    run: imagesCurve,
  },
  {
    id: 'scale-layers',
    group: 'scaling',
    title: '`run --rm` of images of 1 / 10 / 100 / 125 layers',
    run: layersCurve,
  },
  {
    id: 'scale-logs',
    aliases: ['logs'],
    group: 'scaling',
    title: '`logs` and `logs --tail 10` of 10k / 100k / 1M lines',
    run: logsCurve,
  },
];

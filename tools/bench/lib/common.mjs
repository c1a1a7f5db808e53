// What every workload shares: the engine lists, interleaved repetitions (`rounds`), the busybox
// and 60 MB fixtures, seeding containers through the API, and daemon memory. Each workload is
// bounded in count and time, runs engines alternately (rotating the order each repetition so
// machine noise hits all alike), and skips an engine with the reason it gave when it lacks the
// feature (its CLI's own error message).
import { rssMiB } from './engines.mjs';
import { bigImageArchive, busyboxRootfs } from './fixtures.mjs';
import { pool, run, unixRequest } from './proc.mjs';
import { rotation, round, summarize } from './stats.mjs';

/** How long a daemon is left alone before its memory is read: longer than tsctrd's 10 s quiet period plus its 2.5 s check interval. */
export const IDLE_SETTLE_MS = 20_000;

export const ENGINE_IDS = ['tsctr', 'docker→tsctrd', 'docker', 'podman'];
export const ENGINES = ['tsctr', 'docker', 'podman'];

/**
 * The environment of a classic build: both docker CLI engines (against dockerd and against
 * tsctrd) get DOCKER_BUILDKIT=0 (CLI 28 here has no buildx); `tsctr` has only the classic API.
 */
export const classicBuilder = (e) => (e.id === 'tsctr' ? {} : { DOCKER_BUILDKIT: '0' });

/**
 * Cold (`--no-cache`) then cached builds, engines interleaved: `build(e, extraArgs)` returns the
 * timed command's result. An engine whose cold build failed is skipped in the cached rounds.
 */
export async function coldAndCachedRounds(ctx, engines, build) {
  const cold = await rounds(ctx, {
    engines,
    reps: ctx.heavyReps,
    warmup: 0,
    flush: true,
    op: async (e) => (await build(e, ['--no-cache'])).ms,
  });
  const cached = await rounds(ctx, {
    engines,
    reps: ctx.heavyReps,
    // A cached build takes tenths of a second: more runs while they stay cheap (see run.mjs).
    extra: ctx.cheapExtra,
    warmup: 0,
    flush: true,
    op: async (e) => {
      if (cold[e.id]?.skipped) throw new Error(`cold build failed: ${cold[e.id].skipped}`);
      return (await build(e, [])).ms;
    },
  });
  return { cold, cached };
}

export const slug = (e) => e.id.replace(/[^a-z0-9]+/g, '-');

export function reasonOf(err) {
  return String(err?.message ?? err)
    .replace(/\s+/g, ' ')
    .slice(0, 300);
}

/**
 * Runs `op(engine, rep)` (returning one sample) `reps` times per engine after `warmup` unrecorded
 * runs, engines interleaved. The first failure of an engine skips it with the failure as reason.
 * `flush`: each run starts after a `sync` (for workloads that write tens of MB).
 */
export async function rounds(
  ctx,
  { engines = ENGINES, reps = ctx.reps, warmup = 1, op, after, extra, flush = false },
) {
  const results = {};
  const active = [];
  for (const id of engines) {
    const e = ctx.engines[id];
    if (!e) results[id] = { skipped: ctx.unavailable[id] ?? 'not selected' };
    else {
      results[id] = { samples: [] };
      active.push(e);
    }
  }
  const fail = (e, err, rep) => {
    const samples = results[e.id].samples;
    results[e.id] = {
      skipped: `${rep < 0 ? '' : `failed in run ${rep + 1}: `}${reasonOf(err)}`,
      ...(samples.length ? { partial: samples } : {}),
    };
  };
  // `extra`: up to `upTo` runs in all while one more round (its cost judged by the rounds so
  // far) still fits in `withinMs`: cheap cells get a stable median, costly ones keep `reps`.
  let recorded = 0;
  const startedAt = performance.now();
  const another = (rep) => {
    if (rep < reps) return true;
    if (!extra || rep >= extra.upTo || recorded === 0) return false;
    const spent = performance.now() - startedAt;
    return spent + spent / (recorded + warmup) <= extra.withinMs;
  };
  for (let rep = -warmup; another(rep); rep++) {
    for (const e of rotation(active, rep + warmup)) {
      if (results[e.id].skipped) continue;
      // What the runs before wrote (any engine's) reaches the disk first, untimed: else the
      // kernel's writeback of one engine's tens of MB lands in the next one's time.
      if (flush) await run('sync', []);
      try {
        const v = await op(e, rep);
        if (rep >= 0) results[e.id].samples.push(v);
      } catch (err) {
        fail(e, err, rep);
      }
      if (after) await after(e, rep).catch(() => {});
    }
    if (rep >= 0) recorded++;
  }
  for (const r of Object.values(results)) if (r.samples) Object.assign(r, summarize(r.samples));
  return results;
}

export async function ensureBusybox(ctx) {
  ctx.busyboxTar ??= await busyboxRootfs(ctx.root);
  for (const e of Object.values(ctx.engines)) {
    if (e.id === 'docker→tsctrd' || e.busybox) continue;
    await e.cli(['import', '-c', 'CMD ["sh"]', ctx.busyboxTar, 'busybox:latest']);
    e.busybox = true;
  }
}

export async function bigImage(ctx) {
  ctx.bigImage ??= await bigImageArchive(ctx.root, ctx.busyboxTar ?? (await busyboxRootfs(ctx.root)));
  return ctx.bigImage;
}

export const rmForce = (e, names) => e.cli(['rm', '-f', ...names], { check: false });
export const rmi = (e, refs) => e.cli(['rmi', '-f', ...refs], { check: false });

/** The Engine API socket used to seed containers: the daemon's, or podman's API service. */
export async function seedSocket(e) {
  return e.socketPath ?? (await e.startService());
}

/** Creates stopped containers bench-ps-FROM…TO-1 through the API (not timed). */
export async function seedContainers(e, from, to) {
  const socket = await seedSocket(e);
  const idx = Array.from({ length: to - from }, (_, i) => from + i);
  await pool(idx, 4, async (i) => {
    const r = await unixRequest(socket, 'POST', `/containers/create?name=bench-ps-${i}`, {
      Image: 'busybox',
      Cmd: ['true'],
      HostConfig: { NetworkMode: 'none' },
    });
    if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body}`);
  });
}

export async function removeSeeded(e, n) {
  const socket = await seedSocket(e);
  await pool(
    Array.from({ length: n }, (_, i) => i),
    4,
    (i) => unixRequest(socket, 'DELETE', `/containers/bench-ps-${i}?force=1`).catch(() => {}),
  );
  await e.stopService?.();
}

/** The daemon's resident memory (dockerd + containerd for Docker), or undefined without a daemon. */
export async function daemonRss(e) {
  const procs = await e.daemonProcesses();
  if (procs.length === 0) return undefined;
  let total = 0;
  const parts = [];
  for (const p of procs) {
    const mb = (await rssMiB(p.pid)) ?? 0;
    total += mb;
    parts.push(`${p.name} ${round(mb)}`);
  }
  return { value: round(total), detail: parts.join(' + ') };
}

/** Records each daemon's idle memory right after start (busybox imported, nothing run yet). */
export async function recordIdleMemory(ctx) {
  await ensureBusybox(ctx);
  // Idle: longer than our daemon's quiet period before it gives memory back (idle-memory.ts).
  await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
  ctx.idleMemory = {};
  for (const id of ENGINES) if (ctx.engines[id]) ctx.idleMemory[id] = await daemonRss(ctx.engines[id]);
}

export function micro(id, title, unit, figures, skipped) {
  return { id, kind: 'micro', title, unit, figures, ...(skipped ? { skipped } : {}) };
}

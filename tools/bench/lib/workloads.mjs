// The workloads. Each one is bounded in count and time, runs engines alternately (rotating the
// order each repetition so machine noise hits all alike), and skips an engine with the reason
// it gave when it lacks the feature (its CLI's own error message).
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildWorkloads } from './build-workloads.mjs';
import { REPO_ROOT, rssMiB } from './engines.mjs';
import { LocalRegistry, bigBuildContext, bigImageArchive, buildContext, busyboxRootfs } from './fixtures.mjs';
import { pool, run, sleep, unixRequest } from './proc.mjs';
import { rotation, round, summarize } from './stats.mjs';

export const ENGINE_IDS = ['tsctr', 'docker→tsctrd', 'docker', 'podman'];
const ENGINES = ['tsctr', 'docker', 'podman'];

const slug = (e) => e.id.replace(/[^a-z0-9]+/g, '-');

function reasonOf(err) {
  return String(err?.message ?? err)
    .replace(/\s+/g, ' ')
    .slice(0, 300);
}

/**
 * Runs `op(engine, rep)` (returning one sample) `reps` times per engine after `warmup` unrecorded
 * runs, engines interleaved. The first failure of an engine skips it with the failure as reason.
 */
export async function rounds(ctx, { engines = ENGINES, reps = ctx.reps, warmup = 1, op, after }) {
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
  for (let rep = -warmup; rep < reps; rep++) {
    for (const e of rotation(active, rep + warmup)) {
      if (results[e.id].skipped) continue;
      try {
        const v = await op(e, rep);
        if (rep >= 0) results[e.id].samples.push(v);
      } catch (err) {
        fail(e, err, rep);
      }
      if (after) await after(e, rep).catch(() => {});
    }
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

async function bigImage(ctx) {
  ctx.bigImage ??= await bigImageArchive(ctx.root, ctx.busyboxTar ?? (await busyboxRootfs(ctx.root)));
  return ctx.bigImage;
}

const rmForce = (e, names) => e.cli(['rm', '-f', ...names], { check: false });
export const rmi = (e, refs) => e.cli(['rmi', '-f', ...refs], { check: false });

/** The Engine API socket used to seed containers: the daemon's, or podman's API service. */
async function seedSocket(e) {
  return e.socketPath ?? (await e.startService());
}

/** Creates stopped containers bench-ps-FROM…TO-1 through the API (not timed). */
async function seedContainers(e, from, to) {
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

async function removeSeeded(e, n) {
  const socket = await seedSocket(e);
  await pool(
    Array.from({ length: n }, (_, i) => i),
    4,
    (i) => unixRequest(socket, 'DELETE', `/containers/bench-ps-${i}?force=1`).catch(() => {}),
  );
  await e.stopService?.();
}

/** The daemon's resident memory (dockerd + containerd for Docker), or undefined without a daemon. */
async function daemonRss(e) {
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
  await new Promise((r) => setTimeout(r, 2000));
  ctx.idleMemory = {};
  for (const id of ENGINES) if (ctx.engines[id]) ctx.idleMemory[id] = await daemonRss(ctx.engines[id]);
}

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
          note: 'median of 50 requests per sample; podman has no daemon',
          results: await rounds(ctx, {
            engines: ['tsctr', 'docker', 'podman'],
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
  {
    id: 'logs',
    title: '`logs` of 100k lines',
    async run(ctx) {
      await ensureBusybox(ctx);
      const name = (e) => `bench-logs-${slug(e)}`;
      const made = new Set();
      const results = await rounds(ctx, {
        engines: ENGINE_IDS,
        op: async (e) => {
          if (!made.has(e.id)) {
            made.add(e.id);
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
              '100000',
            ]);
            await e.cli(['wait', name(e)]);
          }
          const r = await e.cli(['logs', name(e)], { timeoutMs: 120_000 });
          const lines = r.stdout.split('\n').filter(Boolean).length;
          if (lines !== 100000) throw new Error(`logs printed ${lines} lines, expected 100000`);
          return r.ms;
        },
      });
      for (const id of made) await rmForce(ctx.engines[id], [name(ctx.engines[id])]);
      return [{ id: 'logs', title: '`logs` of a container that printed 100,000 lines', unit: 'ms', results }];
    },
  },
  {
    id: 'lifecycle',
    aliases: ['memory'],
    title: 'create+start and stop+rm of 50 containers; daemon and monitor memory',
    async run(ctx) {
      await ensureBusybox(ctx);
      const N = ctx.containers;
      const engines = ENGINES.filter((id) => ctx.engines[id]).map((id) => ctx.engines[id]);
      const memory = { daemonIdle: {}, daemonBusy: {}, monitor: {} };
      // Idle means just started with busybox imported: recorded before the first workload.
      for (const e of engines) memory.daemonIdle[e.id] = ctx.idleMemory?.[e.id] ?? (await daemonRss(e));
      const all = [...engines, ...(ctx.engines['docker→tsctrd'] ? [ctx.engines['docker→tsctrd']] : [])];
      const createStart = Object.fromEntries(all.map((e) => [e.id, []]));
      const stopRm = Object.fromEntries(all.map((e) => [e.id, []]));
      const wall = Object.fromEntries(all.map((e) => [e.id, 0]));
      const stopWall = Object.fromEntries(all.map((e) => [e.id, 0]));
      const failed = {};
      const cname = (e, i) => `bench-life-${slug(e)}-${i}`;
      const createPhase = async (list) => {
        for (let i = 0; i < N; i++) {
          for (const e of rotation(list, i)) {
            if (failed[e.id]) continue;
            try {
              const a = await e.cli([
                'create',
                '--network',
                'none',
                '--name',
                cname(e, i),
                'busybox',
                'sleep',
                '3600',
              ]);
              const b = await e.cli(['start', cname(e, i)]);
              createStart[e.id].push(a.ms + b.ms);
              wall[e.id] += a.ms + b.ms;
            } catch (err) {
              failed[e.id] = reasonOf(err);
            }
          }
        }
      };
      const stopPhase = async (list) => {
        for (let i = 0; i < N; i++) {
          for (const e of rotation(list, i)) {
            if (failed[e.id]) continue;
            try {
              const a = await e.cli(['stop', '-t', '0', cname(e, i)]);
              const b = await e.cli(['rm', cname(e, i)]);
              stopRm[e.id].push(a.ms + b.ms);
              stopWall[e.id] += a.ms + b.ms;
            } catch (err) {
              failed[e.id] = `stop/rm: ${reasonOf(err)}`;
            }
          }
        }
        for (const e of list)
          await rmForce(
            e,
            Array.from({ length: N }, (_, i) => cname(e, i)),
          );
      };
      await createPhase(engines);
      // Let the daemons settle (lazy allocations, GC) before reading memory with N running.
      await new Promise((r) => setTimeout(r, 2000));
      for (const e of engines) {
        if (failed[e.id]) continue;
        memory.daemonBusy[e.id] = await daemonRss(e);
        const pids = await e.monitorPids();
        const rss = (await Promise.all(pids.map(rssMiB))).filter((x) => x !== undefined);
        memory.monitor[e.id] =
          rss.length > 0
            ? { value: round(rss.reduce((a, b) => a + b, 0) / rss.length), detail: `${rss.length} monitors` }
            : undefined;
      }
      await stopPhase(engines);
      // The docker CLI against our daemon runs afterwards, on its own, so that the memory
      // figures above are for exactly N containers per daemon.
      if (all.length > engines.length) {
        const dt = all.slice(engines.length);
        await createPhase(dt);
        await stopPhase(dt);
      }
      const pack = (samples, id) => {
        if (!ctx.engines[id]) return { skipped: ctx.unavailable[id] ?? 'not selected' };
        if (failed[id]) return { skipped: failed[id] };
        return { samples, ...summarize(samples) };
      };
      const rowOf = (rid, title, data, totals) => ({
        id: rid,
        title,
        unit: 'ms',
        note: `per container, ${N} containers; total: ${Object.entries(totals)
          .filter(([id]) => !failed[id])
          .map(([id, ms]) => `${id} ${round(ms / 1000)} s`)
          .join(', ')}`,
        results: Object.fromEntries(ENGINE_IDS.map((id) => [id, pack(data[id] ?? [], id)])),
      });
      const memRow = (rid, title, m, note) => ({
        id: rid,
        title,
        unit: 'MiB',
        note,
        results: Object.fromEntries(
          ENGINES.map((id) => {
            if (!ctx.engines[id]) return [id, { skipped: ctx.unavailable[id] ?? 'not selected' }];
            const v = m[id];
            if (!v)
              return [
                id,
                {
                  skipped:
                    id === 'podman' && rid.startsWith('mem-daemon')
                      ? 'no daemon'
                      : (failed[id] ?? 'not measured'),
                },
              ];
            return [
              id,
              { samples: [v.value], n: 1, median: v.value, min: v.value, max: v.value, detail: v.detail },
            ];
          }),
        ),
      });
      return [
        rowOf('create-start', '`create` + `start` (`sleep 3600`, --network none)', createStart, wall),
        rowOf('stop-rm', '`stop -t 0` + `rm`', stopRm, stopWall),
        memRow(
          'mem-daemon-idle',
          'daemon RSS, idle (busybox imported)',
          memory.daemonIdle,
          'docker: dockerd + containerd',
        ),
        memRow(
          'mem-daemon-busy',
          `daemon RSS with ${N} running containers`,
          memory.daemonBusy,
          'docker: dockerd + containerd',
        ),
        memRow(
          'mem-monitor',
          'per-container monitor RSS (average)',
          memory.monitor,
          'ours and podman: conmon; docker: containerd-shim-runc-v2',
        ),
      ];
    },
  },
  {
    id: 'ps',
    title: '`ps -a` with 0/100/500 containers',
    async run(ctx) {
      await ensureBusybox(ctx);
      const rows = [];
      const seeded = {};
      const failed = {};
      for (const level of ctx.psLevels) {
        for (const id of ENGINES) {
          const e = ctx.engines[id];
          if (!e || failed[id]) continue;
          try {
            await seedContainers(e, seeded[id] ?? 0, level);
            seeded[id] = level;
          } catch (err) {
            failed[id] = `seeding containers: ${reasonOf(err)}`;
          }
          // A podman API service left running would compete with the timed `podman ps`.
          await e.stopService?.();
        }
        const results = await rounds(ctx, {
          engines: ENGINE_IDS,
          op: async (e) => {
            const fid = e.id === 'docker→tsctrd' ? 'tsctr' : e.id;
            if (failed[fid]) throw new Error(failed[fid]);
            const r = await e.cli(['ps', '-a']);
            const lines = r.stdout.trim().split('\n').length - 1;
            if (lines !== level) throw new Error(`ps -a listed ${lines} containers, expected ${level}`);
            return r.ms;
          },
        });
        rows.push({ id: `ps-${level}`, title: `\`ps -a\` with ${level} containers`, unit: 'ms', results });
      }
      for (const id of ENGINES)
        if (ctx.engines[id] && seeded[id]) await removeSeeded(ctx.engines[id], seeded[id]);
      return rows;
    },
  },
  {
    id: 'commit',
    title: '`commit` of 1,000 changed files',
    async run(ctx) {
      await ensureBusybox(ctx);
      const name = (e, rep) => `bench-commit-${slug(e)}-${rep + 5}`;
      const results = await rounds(ctx, {
        reps: ctx.heavyReps,
        warmup: 0,
        op: async (e, rep) => {
          await e.cli([
            'run',
            '--network',
            'none',
            '--name',
            name(e, rep),
            'busybox',
            'sh',
            '-c',
            'mkdir /f && cd /f && for i in $(seq 1000); do echo $i > $i; done',
          ]);
          return (await e.cli(['commit', name(e, rep), `bench-commit:r${rep + 5}`])).ms;
        },
        after: async (e, rep) => {
          await rmForce(e, [name(e, rep)]);
          await rmi(e, [`bench-commit:r${rep + 5}`]);
        },
      });
      return [{ id: 'commit', title: '`commit` of a container with 1,000 new files', unit: 'ms', results }];
    },
  },
  {
    id: 'build-context',
    aliases: ['context'],
    title: '`build` of a 1 GiB context: time and daemon peak RSS',
    async run(ctx) {
      await ensureBusybox(ctx);
      const context = await bigBuildContext(ctx.root, 1024);
      const env = (e) => (e.id === 'docker' ? { DOCKER_BUILDKIT: '0' } : {});
      const peaks = {};
      const afters = {};
      const time = await rounds(ctx, {
        reps: ctx.heavyReps,
        warmup: 0,
        op: async (e) => {
          const idle = (await daemonRss(e))?.value ?? 0;
          let peak = idle;
          let sampling = true;
          const sampler = (async () => {
            while (sampling) {
              peak = Math.max(peak, (await daemonRss(e))?.value ?? 0);
              await sleep(100);
            }
          })();
          try {
            const ms = (
              await e.cli(['build', '--no-cache', '-t', 'bench-context:latest', context], {
                env: env(e),
                timeoutMs: 600_000,
              })
            ).ms;
            (peaks[e.id] ??= []).push(round(peak - idle));
            sampling = false;
            await sampler;
            // Memory given back: the daemon's RSS 2 s after the build, over its idle figure.
            await sleep(2000);
            (afters[e.id] ??= []).push(round(((await daemonRss(e))?.value ?? 0) - idle));
            return ms;
          } finally {
            sampling = false;
            await sampler;
          }
        },
      });
      for (const id of ENGINES) if (ctx.engines[id]) await rmi(ctx.engines[id], ['bench-context:latest']);
      await rm(context, { recursive: true, force: true });
      const rss = {};
      const after = {};
      for (const [id, r] of Object.entries(time)) {
        rss[id] = r.samples ? { samples: peaks[id] ?? [], ...summarize(peaks[id] ?? []) } : r;
        after[id] = r.samples ? { samples: afters[id] ?? [], ...summarize(afters[id] ?? []) } : r;
      }
      const note =
        'FROM busybox + COPY Dockerfile; the context is one sparse 1 GiB file, sent whole by the CLI; docker: DOCKER_BUILDKIT=0 (classic builder)';
      return [
        { id: 'build-context-time', title: '`build` of a 1 GiB context', unit: 'ms', note, results: time },
        {
          id: 'build-context-rss',
          title: '`build` of a 1 GiB context: daemon peak RSS over idle',
          unit: 'MiB',
          note,
          results: rss,
        },
        {
          id: 'build-context-rss-after',
          title: '`build` of a 1 GiB context: daemon RSS 2 s after, over idle',
          unit: 'MiB',
          note,
          results: after,
        },
      ];
    },
  },
  {
    id: 'build',
    title: 'cold and cached `build`',
    async run(ctx) {
      await ensureBusybox(ctx);
      const context = await buildContext(ctx.root);
      // Docker's CLI 28 here has no buildx: the classic builder, as docker.io users get it.
      const env = (e) => (e.id === 'docker' ? { DOCKER_BUILDKIT: '0' } : {});
      const cold = await rounds(ctx, {
        reps: ctx.heavyReps,
        warmup: 0,
        op: async (e) =>
          (
            await e.cli(['build', '--no-cache', '-t', 'bench-build:latest', context], {
              env: env(e),
              timeoutMs: 300_000,
            })
          ).ms,
      });
      const cached = await rounds(ctx, {
        reps: ctx.heavyReps,
        warmup: 0,
        op: async (e) => {
          if (cold[e.id]?.skipped) throw new Error(`cold build failed: ${cold[e.id].skipped}`);
          return (
            await e.cli(['build', '-t', 'bench-build:latest', context], { env: env(e), timeoutMs: 300_000 })
          ).ms;
        },
      });
      for (const id of ENGINES) if (ctx.engines[id]) await rmi(ctx.engines[id], ['bench-build:latest']);
      const note =
        '6-step Dockerfile FROM busybox (ENV, RUN, COPY 1 MB, RUN 200 files, WORKDIR, CMD); docker: DOCKER_BUILDKIT=0';
      const rows = [
        { id: 'build-cold', title: '`build --no-cache` (cold)', unit: 'ms', note, results: cold },
        { id: 'build-cached', title: '`build` again (all steps cached)', unit: 'ms', note, results: cached },
      ];
      // Separately, Docker with BuildKit: dockerd's embedded BuildKit through Debian's own docker
      // CLI (20.10, which still speaks it without the buildx plugin CLI 28 would need).
      const debianCli = '/usr/bin/docker';
      const docker = ctx.engines.docker;
      if (docker && existsSync(debianCli)) {
        const buildkit = (args) =>
          run(debianCli, args, { env: { ...docker.env, DOCKER_BUILDKIT: '1' }, timeoutMs: 300_000 });
        const bkNote = `${note.replace('; docker: DOCKER_BUILDKIT=0', '')}; Docker with BuildKit (DOCKER_BUILDKIT=1, Debian's docker CLI 20.10)`;
        const bkCold = await rounds(ctx, {
          engines: ['docker'],
          reps: ctx.heavyReps,
          warmup: 0,
          op: async () => (await buildkit(['build', '--no-cache', '-t', 'bench-build:latest', context])).ms,
        });
        const bkCached = await rounds(ctx, {
          engines: ['docker'],
          reps: ctx.heavyReps,
          warmup: 0,
          op: async () => (await buildkit(['build', '-t', 'bench-build:latest', context])).ms,
        });
        await rmi(docker, ['bench-build:latest']);
        rows.push(
          {
            id: 'build-cold-buildkit',
            title: '`build --no-cache` (cold), Docker with BuildKit',
            unit: 'ms',
            note: bkNote,
            // Ours beside it again, so the ratio column compares with BuildKit.
            results: { tsctr: cold.tsctr, docker: bkCold.docker },
          },
          {
            id: 'build-cached-buildkit',
            title: '`build` again (cached), Docker with BuildKit',
            unit: 'ms',
            note: bkNote,
            results: { tsctr: cached.tsctr, docker: bkCached.docker },
          },
        );
      }
      return rows;
    },
  },
  {
    id: 'save-load',
    title: '`save` / `load` of a 60 MB image',
    async run(ctx) {
      await ensureBusybox(ctx);
      const img = await bigImage(ctx);
      const out = (e) => join(ctx.root, `save-${slug(e)}.tar`);
      const load = await rounds(ctx, {
        reps: ctx.heavyReps,
        warmup: 0,
        op: async (e) => (await e.cli(['load', '-i', img.path], { timeoutMs: 300_000 })).ms,
        after: async (e) => rmi(e, [img.reference]),
      });
      const save = await rounds(ctx, {
        reps: ctx.heavyReps,
        warmup: 0,
        op: async (e, rep) => {
          if (load[e.id]?.skipped) throw new Error(`load failed: ${load[e.id].skipped}`);
          if (rep === 0) await e.cli(['load', '-i', img.path], { timeoutMs: 300_000 });
          return (await e.cli(['save', '-o', out(e), img.reference], { timeoutMs: 300_000 })).ms;
        },
        after: async (e) => rm(out(e), { force: true }),
      });
      for (const id of ENGINES) if (ctx.engines[id]) await rmi(ctx.engines[id], [img.reference]);
      const note = `${Math.round(img.bytes / 1e6)} MB archive, 3 layers`;
      return [
        { id: 'load', title: '`load -i` (60 MB, 3 layers)', unit: 'ms', note, results: load },
        { id: 'save', title: '`save -o` (60 MB, 3 layers)', unit: 'ms', note, results: save },
      ];
    },
  },
  {
    id: 'pull-push',
    title: '`pull` / `push` of a 60 MB 3-layer image, local registry',
    async run(ctx) {
      await ensureBusybox(ctx);
      const img = await bigImage(ctx);
      const registry = await LocalRegistry.start(ctx.root);
      ctx.cleanups.push(() => registry.stop());
      try {
        const seed = async () =>
          run(
            'skopeo',
            [
              'copy',
              '--quiet',
              '--dest-tls-verify=false',
              `docker-archive:${img.path}`,
              `docker://${registry.host}/bench/big:latest`,
            ],
            { timeoutMs: 300_000 },
          );
        await seed();
        const ref = `${registry.host}/bench/big:latest`;
        const pull = await rounds(ctx, {
          // The docker CLI against tsctrd too: the daemons compared without Node's start-up.
          engines: ENGINE_IDS,
          reps: ctx.heavyReps,
          warmup: 0,
          op: async (e) => (await e.cli(['pull', ...e.registryFlags, ref], { timeoutMs: 300_000 })).ms,
          after: async (e) => rmi(e, [ref]),
        });
        const pushRef = `${registry.host}/bench/pushed:latest`;
        const push = await rounds(ctx, {
          reps: ctx.heavyReps,
          warmup: 0,
          op: async (e, rep) => {
            if (pull[e.id]?.skipped) throw new Error(`needs pull: ${pull[e.id].skipped}`);
            // Every push goes to an empty registry so all blobs are uploaded.
            await registry.reset();
            if (rep === 0 || !e.pushReady) {
              await seed();
              await e.cli(['pull', ...e.registryFlags, ref], { timeoutMs: 300_000 });
              await e.cli(['tag', ref, pushRef]);
              await registry.reset();
              e.pushReady = true;
            }
            return (await e.cli(['push', ...e.registryFlags, pushRef], { timeoutMs: 300_000 })).ms;
          },
        });
        for (const id of ENGINES) {
          const e = ctx.engines[id];
          if (e) await rmi(e, [ref, pushRef]);
        }
        const note = `${Math.round(img.bytes / 1e6)} MB uncompressed; docker-registry on 127.0.0.1; every push into an emptied registry`;
        return [
          { id: 'pull', title: '`pull` (60 MB, 3 layers)', unit: 'ms', note, results: pull },
          { id: 'push', title: '`push` (60 MB, 3 layers)', unit: 'ms', note, results: push },
        ];
      } finally {
        await registry.stop();
      }
    },
  },
  {
    id: 'extract',
    kind: 'micro',
    title: 'layer extraction: `applyLayer` vs `tar -x` on a layer of many small files',
    async run(ctx) {
      const script = join(REPO_ROOT, 'packages/image/bench/extract.mjs');
      if (!existsSync(script))
        return [micro('extract', this.title, 's', {}, 'packages/image/bench/extract.mjs is missing')];
      if (!existsSync(join(REPO_ROOT, 'packages/image/dist/index.js')))
        return [micro('extract', this.title, 's', {}, 'packages/image is not built')];
      const r = await run(
        process.execPath,
        [script, '--mb', String(ctx.extractMb), '--runs', '3', '--dir', ctx.root],
        {
          timeoutMs: 600_000,
        },
      );
      const j = JSON.parse(r.stdout.trim().split('\n').pop());
      return [
        micro(
          'extract',
          `layer extraction, ${Math.round(j.layerBytes / 1e6)} MB in ${j.files} files (best of ${j.runs ?? 2}; ratio: median of back-to-back pairs)`,
          's',
          {
            'ours (applyLayer)': j.applyLayerSeconds,
            'tar -x': j.tarSeconds,
            'ours MB/s': j.applyLayerMBps,
            'tar MB/s': j.tarMBps,
            'ours ÷ tar throughput': j.ratio,
          },
        ),
      ];
    },
  },
  {
    id: 'storage',
    kind: 'micro',
    title: 'snapshot prepare+mount on 1/10/100-layer images (unionfs)',
    async run(ctx) {
      if (!existsSync(join(REPO_ROOT, 'packages/unionfs/bench/vitest.config.ts')))
        return [micro('storage', this.title, 'ms', {}, 'packages/unionfs/bench is missing')];
      const out = join(ctx.root, 'unionfs-bench.json');
      await run('pnpm', ['--filter', '@ts-container/unionfs', 'bench'], {
        env: { BENCH_OUT: out, BENCH_ROUNDS: '11' },
        cwd: REPO_ROOT,
        timeoutMs: 600_000,
      });
      const j = JSON.parse(await readFile(out, 'utf8'));
      const rows = [];
      for (const [driver, figures] of Object.entries(j.results)) {
        rows.push(
          micro(`storage-${driver}`, `unionfs ${driver} driver (median of ${j.rounds})`, 'ms', figures),
        );
      }
      return rows;
    },
  },
  {
    id: 'network',
    kind: 'micro',
    title: 'bridge networking setup/teardown (network package)',
    async run(ctx) {
      const script = join(REPO_ROOT, 'packages/network/bench/setup-teardown.mjs');
      if (!existsSync(script))
        return [micro('network', this.title, 'ms', {}, 'packages/network/bench is missing')];
      if (!existsSync(join(REPO_ROOT, 'packages/network/dist/index.js')))
        return [micro('network', this.title, 'ms', {}, 'packages/network is not built')];
      const r = await run(process.execPath, [script, '30'], { timeoutMs: 300_000 });
      const figures = {};
      for (const m of r.stdout.matchAll(
        /^\s+(\w+):\s+median ([\d.]+) ms, p90 ([\d.]+) ms, min ([\d.]+) ms/gm,
      )) {
        figures[`${m[1]} median`] = Number(m[2]);
        figures[`${m[1]} p90`] = Number(m[3]);
      }
      return [
        micro(
          'network',
          'bridge networking of one container (netns + veth + IPAM), 30 containers',
          'ms',
          figures,
        ),
      ];
    },
  },
  ...buildWorkloads(),
];

function micro(id, title, unit, figures, skipped) {
  return { id, kind: 'micro', title, unit, figures, ...(skipped ? { skipped } : {}) };
}

export function selectWorkloads(names) {
  if (names.length === 0) return WORKLOADS;
  const picked = [];
  for (const n of names) {
    const w = WORKLOADS.find((x) => x.id === n || x.aliases?.includes(n));
    if (!w) throw new Error(`unknown workload ${n}; known: ${WORKLOADS.map((x) => x.id).join(', ')}`);
    if (!picked.includes(w)) picked.push(w);
  }
  return picked;
}

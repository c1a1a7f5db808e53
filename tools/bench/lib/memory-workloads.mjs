// Container lifecycle in bulk and what the daemons and monitors hold in memory.
import { readFile, readdir, rm } from 'node:fs/promises';
import {
  ENGINES,
  ENGINE_IDS,
  IDLE_SETTLE_MS,
  daemonRss,
  ensureBusybox,
  micro,
  reasonOf,
  rmForce,
  slug,
} from './common.mjs';
import { DOCKER_CLI, TsctrEngine, rssMiB } from './engines.mjs';
import { busyboxRootfs, mixedBuildContext, treeBuildContext } from './fixtures.mjs';
import { pool, run, sleep, unixRequest } from './proc.mjs';
import { rotation, round, summarize } from './stats.mjs';

export const WORKLOADS = [
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
      await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
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
    id: 'daemon-memory',
    aliases: ['mem'],
    group: 'memory',
    title: 'a fresh daemon of ours: RSS idle, with N containers, after removing them, after builds',
    async run(ctx) {
      const steps = await daemonMemorySteps(ctx);
      const [idle, busy] = steps;
      const figures = Object.fromEntries(steps.map((s) => [s.label, s.rss]));
      figures['per container'] = round((busy.rss - idle.rss) / ctx.containers);
      // Descriptors held per step: what a container costs beyond memory, and leaks.
      figures['open fds per step'] = steps.map((s) => s.fds).join(' / ');
      figures['anonymous RSS per step'] = steps.map((s) => s.anon).join(' / ');
      return [
        micro(
          'daemon-memory',
          `daemon RSS (VmRSS) of a fresh tsctrd after each step, ${ctx.containers} containers`,
          'MiB',
          figures,
        ),
      ];
    },
  },
];

/**
 * A fresh daemon of ours, alone and idle after each step: RSS just started (busybox imported),
 * with N containers running, after they are removed, and after the builds of issue 17 (a
 * 5,000-file two-stage build and a 60 MB context). `BENCH_DAEMON_NODE_ARGS` passes Node options
 * to that daemon (e.g. `--heapsnapshot-signal=SIGUSR2` to look at what it holds).
 */
async function daemonMemorySteps(ctx) {
  const nodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const e = new TsctrEngine({ suffix: 'm', nodeArgs });
  const steps = [];
  const settle = async (label) => {
    await sleep(IDLE_SETTLE_MS);
    // A signal for a probe the daemon was started with (`BENCH_DAEMON_NODE_ARGS=--require …`).
    if (process.env.BENCH_DAEMON_SIGNAL) {
      process.kill(e.process.pid, process.env.BENCH_DAEMON_SIGNAL);
      await sleep(1000);
    }
    const rss = (await daemonRss(e))?.value;
    const fds = (await readdir(`/proc/${e.process.pid}/fd`)).length;
    // RssAnon is what the daemon allocated; RssFile is the node binary's and libraries' pages it ran.
    const status = await readFile(`/proc/${e.process.pid}/status`, 'utf8');
    const anon = round(Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
    steps.push({ label, rss, anon, fds });
    ctx.log?.(`  daemon-memory ${label}: ${rss} MiB (anonymous ${anon}), ${fds} open fds`);
  };
  await e.start(ctx.root);
  ctx.cleanups.push(() => e.stop());
  try {
    ctx.busyboxTar ??= await busyboxRootfs(ctx.root);
    await e.cli(['import', '-c', 'CMD ["sh"]', ctx.busyboxTar, 'busybox:latest']);
    await settle('idle (busybox imported)');
    const N = ctx.containers;
    await pool(
      Array.from({ length: N }, (_, i) => i),
      4,
      async (i) => {
        const r = await unixRequest(e.socketPath, 'POST', `/containers/create?name=mem-${i}`, {
          Image: 'busybox',
          Cmd: ['sleep', '3600'],
          HostConfig: { NetworkMode: 'none' },
        });
        if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body}`);
        const s = await unixRequest(e.socketPath, 'POST', `/containers/mem-${i}/start`);
        if (s.status !== 204) throw new Error(`start: ${s.status} ${s.body}`);
      },
    );
    await settle(`${N} containers running`);
    await e.cli(['rm', '-f', ...Array.from({ length: N }, (_, i) => `mem-${i}`)], { timeoutMs: 300_000 });
    await settle(`${N} containers removed`);
    const tree = await treeBuildContext(ctx.root, ctx.quick ? 1000 : 5000);
    const mixed = await mixedBuildContext(ctx.root, ctx.quick ? 20 : 60);
    for (const dir of [tree, mixed.dir]) {
      const docker = ctx.engines['docker→tsctrd'] ? DOCKER_CLI : undefined;
      const args = ['build', '--no-cache', '-q', '-t', 'mem-build:latest', dir];
      if (docker) await run(docker, args, { env: { ...e.env, DOCKER_BUILDKIT: '0' }, timeoutMs: 600_000 });
      else await e.cli(args, { timeoutMs: 600_000 });
    }
    await settle('after the builds');
    await e.cli(['rmi', '-f', 'mem-build:latest'], { check: false });
    await rm(tree, { recursive: true, force: true });
    await rm(mixed.dir, { recursive: true, force: true });
    return steps;
  } finally {
    await e.stop();
  }
}

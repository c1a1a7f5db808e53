// Container lifecycle in bulk and what the daemons and monitors hold in memory.
import { ENGINES, ENGINE_IDS, daemonRss, ensureBusybox, reasonOf, rmForce, slug } from './common.mjs';
import { rssMiB } from './engines.mjs';
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
];

// Images: commit, builds (small Dockerfile, 1 GiB context), save/load, pull/push.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILDKIT_NOTE, buildKitRounds } from './buildkit-rounds.mjs';
import {
  ENGINES,
  ENGINE_IDS,
  IDLE_SETTLE_MS,
  bigImage,
  classicBuilder,
  coldAndCachedRounds,
  daemonRss,
  ensureBusybox,
  rmForce,
  rmi,
  rounds,
  slug,
} from './common.mjs';
import { LocalRegistry, bigBuildContext, buildContext, mixedBuildContext } from './fixtures.mjs';
import { run, sleep } from './proc.mjs';
import { round, summarize } from './stats.mjs';

/**
 * Differences of two RSS readings (a peak or a later figure over the idle one) move by this much
 * between identical runs (heap growth and collection timing): a smaller gap is not a difference.
 */
const RSS_DELTA_RESOLUTION_MIB = 2;

export const WORKLOADS = [
  {
    id: 'commit',
    title: '`commit` of 1,000 changed files',
    async run(ctx) {
      await ensureBusybox(ctx);
      const name = (e, rep) => `bench-commit-${slug(e)}-${rep + 5}`;
      const results = await rounds(ctx, {
        engines: ENGINE_IDS,
        reps: ctx.heavyReps,
        flush: true,
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
      const mib = ctx.quick ? 256 : 1024;
      const size = mib === 1024 ? '1 GiB' : `${mib} MiB`;
      const context = await bigBuildContext(ctx.root, mib);
      const env = classicBuilder;
      const peaks = {};
      const afters = {};
      const time = await rounds(ctx, {
        engines: ENGINE_IDS,
        reps: ctx.heavyReps,
        flush: true,
        warmup: 0,
        op: async (e, rep) => {
          const build = () =>
            e.cli(['build', '--no-cache', '-t', 'bench-context:latest', context], {
              env: env(e),
              timeoutMs: 600_000,
            });
          // The memory rows are the daemons': ours is read around the docker CLI's builds only,
          // which send the whole context (tsctr sends only the Dockerfile here; both go to the
          // same daemon, and would move each other's idle figure).
          if (e.id === 'tsctr') return (await build()).ms;
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
            const ms = (await build()).ms;
            (peaks[e.id] ??= []).push(round(peak - idle));
            sampling = false;
            await sampler;
            // Memory given back: the daemon's RSS once idle after the last build (longer than
            // tsctrd's quiet period before it collects), over its idle figure before the build.
            if (rep === ctx.heavyReps - 1) {
              await sleep(IDLE_SETTLE_MS);
              (afters[e.id] ??= []).push(round(((await daemonRss(e))?.value ?? 0) - idle));
            }
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
        if (id === 'tsctr') continue;
        if (id === 'podman' && r.samples) {
          // Podman builds in the CLI process: there is no daemon whose memory could be read.
          rss[id] = after[id] = { skipped: 'no daemon (podman is daemonless)' };
          continue;
        }
        rss[id] = r.samples ? { samples: peaks[id] ?? [], ...summarize(peaks[id] ?? []) } : r;
        after[id] = r.samples ? { samples: afters[id] ?? [], ...summarize(afters[id] ?? []) } : r;
      }
      const note = `FROM busybox + COPY Dockerfile; the context is one sparse ${size} file, sent whole by the docker CLI (tsctr sends only the files the Dockerfile reads, as BuildKit does); both docker CLI columns: DOCKER_BUILDKIT=0 (classic builder)`;
      return [
        {
          id: 'build-context-time',
          title: `\`build\` of a ${size} context`,
          unit: 'ms',
          note,
          results: time,
        },
        {
          id: 'build-context-rss',
          title: `\`build\` of a ${size} context: daemon peak RSS over idle`,
          unit: 'MiB',
          tolerance: RSS_DELTA_RESOLUTION_MIB,
          note,
          results: rss,
        },
        {
          id: 'build-context-rss-after',
          title: `\`build\` of a ${size} context: daemon RSS ${IDLE_SETTLE_MS / 1000} s after the last, over idle`,
          unit: 'MiB',
          tolerance: RSS_DELTA_RESOLUTION_MIB,
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
      const env = classicBuilder;
      const { cold, cached } = await coldAndCachedRounds(ctx, ENGINE_IDS, (e, extra) =>
        e.cli(['build', ...extra, '-t', 'bench-build:latest', context], { env: env(e), timeoutMs: 300_000 }),
      );
      for (const id of ENGINES) if (ctx.engines[id]) await rmi(ctx.engines[id], ['bench-build:latest']);
      const note =
        '6-step Dockerfile FROM busybox (ENV, RUN, COPY 1 MB, RUN 200 files, WORKDIR, CMD); both docker CLI columns: DOCKER_BUILDKIT=0 (classic builder)';
      const rows = [
        { id: 'build-cold', title: '`build --no-cache` (cold)', unit: 'ms', note, results: cold },
        { id: 'build-cached', title: '`build` again (all steps cached)', unit: 'ms', note, results: cached },
      ];
      // Separately, Docker with BuildKit: dockerd's embedded BuildKit through Debian's own docker
      // CLI (20.10, which still speaks it without the buildx plugin CLI 28 would need), ours
      // through that same CLI; our own CLI's figures stand beside them.
      const bk = await buildKitRounds(ctx, { context, tag: 'bench-build:latest' });
      if (bk) {
        const bkNote = `${note.replace('; both docker CLI columns: DOCKER_BUILDKIT=0 (classic builder)', '')}; ${BUILDKIT_NOTE}; tsctr: our CLI`;
        rows.push(
          {
            id: 'build-cold-buildkit',
            title: '`build --no-cache` (cold), Docker with BuildKit',
            unit: 'ms',
            note: bkNote,
            results: { tsctr: cold.tsctr, ...bk.cold },
          },
          {
            id: 'build-cached-buildkit',
            title: '`build` again (cached), Docker with BuildKit',
            unit: 'ms',
            note: bkNote,
            results: { tsctr: cached.tsctr, ...bk.cached },
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
        engines: ENGINE_IDS,
        reps: ctx.heavyReps,
        flush: true,
        warmup: 0,
        op: async (e) => (await e.cli(['load', '-i', img.path], { timeoutMs: 300_000 })).ms,
        after: async (e) => rmi(e, [img.reference]),
      });
      const save = await rounds(ctx, {
        engines: ENGINE_IDS,
        reps: ctx.heavyReps,
        flush: true,
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
          flush: true,
          warmup: 0,
          op: async (e) => (await e.cli(['pull', ...e.registryFlags, ref], { timeoutMs: 300_000 })).ms,
          after: async (e) => rmi(e, [ref]),
        });
        const pushRef = `${registry.host}/bench/pushed:latest`;
        const push = await rounds(ctx, {
          engines: ENGINE_IDS,
          reps: ctx.heavyReps,
          flush: true,
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
    id: 'upload',
    aliases: ['context-upload'],
    title: '`build` of a 200 MB context of mixed files: upload throughput',
    async run(ctx) {
      await ensureBusybox(ctx);
      const { dir, bytes } = await mixedBuildContext(ctx.root, ctx.quick ? 50 : 200);
      const env = classicBuilder;
      const time = await rounds(ctx, {
        engines: ENGINE_IDS,
        reps: ctx.heavyReps,
        flush: true,
        warmup: 0,
        op: async (e) =>
          (
            await e.cli(['build', '--no-cache', '-q', '-t', 'bench-upload:latest', dir], {
              env: env(e),
              timeoutMs: 600_000,
            })
          ).ms,
      });
      for (const id of ENGINES) if (ctx.engines[id]) await rmi(ctx.engines[id], ['bench-upload:latest']);
      await rm(dir, { recursive: true, force: true });
      const mbps = {};
      for (const [id, r] of Object.entries(time)) {
        if (!r.samples) {
          mbps[id] = r;
          continue;
        }
        const samples = r.samples.map((ms) => round(bytes / 1e6 / (ms / 1000)));
        mbps[id] = { samples, ...summarize(samples) };
      }
      const note = `${Math.round(bytes / 1e6)} MB: half in 4 random files, 40% in 64 KiB files, 10% in 2 KiB files; FROM busybox + COPY Dockerfile, so the time is the context's upload and unpacking (podman reads the directory itself; tsctr, like BuildKit, sends only the files the Dockerfile reads; the docker CLI sends all); both docker CLI columns: DOCKER_BUILDKIT=0`;
      return [
        { id: 'upload-time', title: '`build` of a mixed context', unit: 'ms', note, results: time },
        {
          id: 'upload-mbps',
          title: '`build` of a mixed context: throughput (higher is better)',
          unit: 'MB/s',
          note,
          results: mbps,
        },
      ];
    },
  },
];

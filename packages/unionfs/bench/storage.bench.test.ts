/**
 * Storage figures for the BENCH engineer: prepare+mount time on images of 1, 10 and 100
 * layers, and the commit (layer tarball + unpack) of a 1000-file change, per driver.
 * Prints one JSON object; with BENCH_OUT set, also writes it there.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { it } from 'vitest';
import { Snapshotter, mountAll, unmount } from '../src/index.js';
import { layerTarball } from '../src/testsuite.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Number(sorted[Math.floor(sorted.length / 2)]!.toFixed(2));
}

it.skipIf(process.getuid?.() !== 0)('storage benchmark', async () => {
  const results: Record<string, Record<string, number>> = {};
  for (const driver of ['overlay', 'copy'] as const) {
    const root = await mkdtemp(join(tmpdir(), `unionfs-bench-${driver}-`));
    const figures: Record<string, number> = {};
    try {
      const snapshotter = await Snapshotter.open({ root: join(root, 'store'), driver });
      const base = Array.from({ length: 50 }, (_, i) => ({
        name: `usr/share/f${i}`,
        body: 'x'.repeat(1000),
      }));
      let parent: string | undefined;
      const tops = new Map<number, string>();
      for (let i = 1; i <= 100; i++) {
        const entries = i === 1 ? base : [{ name: `layers/${i}`, body: String(i) }];
        const name = `layer-${i}`;
        await snapshotter.unpackLayer(parent, layerTarball(entries), () => name);
        parent = name;
        if (i === 1 || i === 10 || i === 100) tops.set(i, name);
      }
      let n = 0;
      // One untimed round first: the first mount(8) of a run pays its cold start (page cache,
      // dynamic loader), which is not what a container start on a warm machine costs.
      {
        const target = join(root, 'mnt', 'warm-up');
        await mkdir(target, { recursive: true });
        await mountAll(await snapshotter.prepare('warm-up', tops.get(1)), target);
        await unmount(target);
        await snapshotter.remove('warm-up');
      }
      for (const [depth, top] of tops) {
        const times: number[] = [];
        for (let r = 0; r < ROUNDS; r++) {
          const key = `c-${depth}-${n++}`;
          const target = join(root, 'mnt', key);
          await mkdir(target, { recursive: true });
          const start = performance.now();
          await mountAll(await snapshotter.prepare(key, top), target);
          times.push(performance.now() - start);
          await unmount(target);
          await snapshotter.remove(key);
        }
        figures[`prepareMount_${depth}layers_ms`] = median(times);
      }
      if (driver === 'overlay') {
        // mount(2)+umount2(2) through koffi (what mountAll does) against util-linux's tools,
        // on the same 10-layer snapshot: the brief's "measure which is faster".
        const key = `syscalls-${n++}`;
        const target = join(root, 'mnt', key);
        await mkdir(target, { recursive: true });
        const mounts = await snapshotter.prepare(key, tops.get(10));
        const viaSyscalls: number[] = [];
        const viaTools: number[] = [];
        for (let r = 0; r < ROUNDS * 4; r++) {
          let start = performance.now();
          await mountAll(mounts, target);
          await unmount(target);
          viaSyscalls.push(performance.now() - start);
          const m = mounts[0]!;
          start = performance.now();
          await execa('mount', ['-t', 'overlay', '-o', m.options.join(','), m.source, target], {
            cwd: m.cwd,
          });
          await execa('umount', [target]);
          viaTools.push(performance.now() - start);
        }
        await snapshotter.remove(key);
        figures.mountUnmount_10layers_syscalls_ms = median(viaSyscalls);
        figures.mountUnmount_10layers_tools_ms = median(viaTools);
      }
      const commitTimes: number[] = [];
      for (let r = 0; r < Math.min(ROUNDS, 3); r++) {
        const key = `commit-${r}`;
        const target = join(root, 'mnt', key);
        await mkdir(join(target), { recursive: true });
        await mountAll(await snapshotter.prepare(key, tops.get(10)!), target);
        await mkdir(join(target, 'files'));
        for (let f = 0; f < 1000; f++)
          await writeFile(join(target, 'files', `f${f}`), `file ${f}\n`.repeat(10));
        await unmount(target);
        const start = performance.now();
        await snapshotter.unpackLayer(tops.get(10)!, snapshotter.layerTar(key), () => `committed-${r}`);
        commitTimes.push(performance.now() - start);
        await snapshotter.remove(`committed-${r}`);
        await snapshotter.remove(key);
      }
      figures.commit_1000files_ms = median(commitTimes);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
    results[driver] = figures;
  }
  const json = JSON.stringify({ benchmark: 'unionfs', rounds: ROUNDS, results }, null, 2);
  console.log(json);
  if (process.env.BENCH_OUT) await writeFile(process.env.BENCH_OUT, json);
});

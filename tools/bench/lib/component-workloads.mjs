// Our components alone (no comparable public entry point in the other engines): extraction,
// snapshots, bridge networking.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { micro } from './common.mjs';
import { REPO_ROOT } from './engines.mjs';
import { run } from './proc.mjs';

/** Consecutive rounds of the extraction comparison; the target is ≥ 1.0× tar in every one. */
export const EXTRACT_ROUNDS = 3;

export const WORKLOADS = [
  {
    id: 'extract',
    kind: 'micro',
    title: 'layer extraction: `applyLayer` vs `tar -x` on a layer of many small files, 3 rounds',
    async run(ctx) {
      if (!existsSync(join(REPO_ROOT, 'packages/image/dist/index.js')))
        return [micro('extract', this.title, 's', {}, 'packages/image is not built')];
      const script = fileURLToPath(new URL('./extract-rounds.mjs', import.meta.url));
      const r = await run(
        process.execPath,
        [script, '--mb', String(ctx.extractMb), '--rounds', String(EXTRACT_ROUNDS), '--dir', ctx.root],
        { timeoutMs: 900_000 },
      );
      const j = JSON.parse(r.stdout.trim().split('\n').pop());
      const figures = {};
      j.rounds.forEach((x, i) => {
        figures[`round ${i + 1}: ours`] = x.oursSeconds;
        figures[`round ${i + 1}: tar -x`] = x.tarSeconds;
        figures[`round ${i + 1}: ours ÷ tar throughput`] = x.ratio;
      });
      const mb = j.layerBytes / 1e6;
      const best = (k) => Math.min(...j.rounds.map((x) => x[k]));
      figures['ours MB/s (best)'] = Math.round((mb / best('oursSeconds')) * 10) / 10;
      figures['tar MB/s (best)'] = Math.round((mb / best('tarSeconds')) * 10) / 10;
      const pass = j.rounds.every((x) => x.ratio >= 1);
      figures.verdict = `${pass ? 'at or above' : 'BELOW'} tar in ${pass ? 'all' : `${j.rounds.filter((x) => x.ratio < 1).length} of`} ${j.rounds.length} consecutive rounds`;
      const row = micro(
        'extract',
        `layer extraction, ${Math.round(mb)} MB in ${j.files} files, ${j.rounds.length} consecutive rounds (each: ours, then \`tar --numeric-owner -x\`, fresh directories on ${j.fs}, nothing deleted between rounds, \`sync\` before each, the layer in the page cache for both)`,
        's',
        figures,
      );
      row.extract = { rounds: j.rounds.map((x) => x.ratio), pass };
      return [row];
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
];

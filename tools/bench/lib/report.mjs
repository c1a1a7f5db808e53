import { readFile } from 'node:fs/promises';
// The results as a Markdown table (for people) and JSON (for tools and later comparisons).
import { cpus, totalmem } from 'node:os';
import { ENGINE_IDS } from './common.mjs';
import { run } from './proc.mjs';
import { lineChart, localExponents } from './svg-chart.mjs';

export async function machineInfo() {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: (await run('uname', ['-r'])).stdout.trim(),
    os: /PRETTY_NAME="([^"]+)"/.exec(osRelease)?.[1] ?? 'unknown',
    node: process.version,
    cgroups:
      (await run('stat', ['-fc', '%T', '/sys/fs/cgroup'])).stdout.trim() === 'cgroup2fs'
        ? 'v2'
        : 'v1 (hybrid)',
  };
}

const HEAD = {
  tsctr: 'tsctr (ours)',
  'docker→tsctrd': 'docker CLI → tsctrd',
  docker: 'Docker',
  podman: 'Podman',
};

const SHORT = { tsctr: 'tsctr', 'docker→tsctrd': 'docker CLI' };

function fmt(x) {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  return String(x);
}

function ratio(a, b) {
  if (!a || !b || a.skipped || b.skipped || !b.median) return undefined;
  return Math.round((a.median / b.median) * 100) / 100;
}

/** The two ways to reach our daemon: our Node CLI and the docker CLI (Go) against tsctrd. */
const OURS = ['tsctr', 'docker→tsctrd'];

/** Rows whose figure grows with better performance (operations per second, throughput). */
export const higherIsBetter = (row) => row.higherIsBetter ?? ['ops/s', 'MB/s'].includes(row.unit);

/** The better of two results for this row (lower median, or higher where higher is better). */
function better(row, a, b) {
  if (!a || a.skipped) return b;
  if (!b || b.skipped) return a;
  return higherIsBetter(row) === a.median > b.median ? a : b;
}

/**
 * Adds, to every comparison row, `best` (which of tsctr and docker CLI → tsctrd reached our
 * daemon best; `row.ours` pins one) and ours/theirs ratios on medians from that column.
 */
export function withRatios(rows) {
  for (const row of rows) {
    if (row.kind) continue;
    const ids = row.ours ? [row.ours] : OURS;
    const pick = ids.map((id) => row.results[id]).reduce((a, b) => better(row, a, b), undefined);
    row.best = ids.find((id) => row.results[id] && row.results[id] === pick && !pick.skipped);
    const ours = row.best ? row.results[row.best] : undefined;
    row.ratios = {
      docker: ratio(ours, row.results.docker),
      podman: ratio(ours, row.results.podman),
    };
  }
  return rows;
}

/**
 * The mechanical reading of the table: every row where the best column of ours is worse than
 * the better of Docker and Podman, every row where ours could not be compared, and the
 * extraction verdict.
 */
function summaryMarkdown(rows) {
  const lines = ['## Summary', ''];
  const behind = [];
  const withinNoise = [];
  const uncompared = [];
  for (const row of rows.filter((r) => !r.kind)) {
    const ours = row.best ? row.results[row.best] : undefined;
    const rivals = ['docker', 'podman'].filter((id) => row.results[id] && !row.results[id].skipped);
    if (!ours || rivals.length === 0) {
      uncompared.push(`${row.title} (${ours ? 'no Docker or Podman figure' : 'no figure of ours'})`);
      continue;
    }
    const rival = rivals.reduce((a, b) =>
      better(row, row.results[a], row.results[b]) === row.results[a] ? a : b,
    );
    const theirs = row.results[rival];
    const worse = higherIsBetter(row) ? ours.median < theirs.median : ours.median > theirs.median;
    if (!worse) continue;
    // A row may say how far apart two figures must be to differ (see `tolerance` in its workload).
    if (row.tolerance !== undefined && Math.abs(ours.median - theirs.median) <= row.tolerance) {
      withinNoise.push(
        `- ${row.title}: ours ${fmt(ours.median)} ${row.unit} vs ${HEAD[rival]} ${fmt(theirs.median)} ${row.unit} (resolution ±${row.tolerance} ${row.unit})`,
      );
      continue;
    }
    const factor = higherIsBetter(row) ? theirs.median / ours.median : ours.median / theirs.median;
    const others = rivals
      .filter((id) => id !== rival)
      .map((id) => `; vs ${HEAD[id]} ${fmt(row.ratios[id]?.toFixed(2))}×`)
      .join('');
    behind.push(
      `- ${row.title}: ours ${fmt(ours.median)} ${row.unit} (${SHORT[row.best] ?? row.best}) vs ${HEAD[rival]} ${fmt(theirs.median)} ${row.unit}: ` +
        `${Number.isFinite(factor) ? `${factor.toFixed(2)}×` : '∞'} ${higherIsBetter(row) ? 'less' : 'more'}${others}`,
    );
  }
  lines.push(
    `### Behind Docker/Podman (${behind.length})`,
    '',
    'Every row of the main table where the better of the two columns that reach our daemon (`tsctr`, docker CLI → tsctrd) is worse than the better of Docker and Podman in that row (for the BuildKit rows: Docker with BuildKit).',
    '',
  );
  lines.push(...(behind.length ? behind : ['None.']));
  if (withinNoise.length) {
    lines.push('', `### Behind by less than the measurement's resolution (${withinNoise.length})`, '');
    lines.push(...withinNoise);
  }
  if (uncompared.length) {
    lines.push('', `### Not compared (${uncompared.length})`, '');
    for (const u of uncompared) lines.push(`- ${u}`);
  }
  const extract = rows.find((r) => r.id === 'extract');
  if (extract?.extract) {
    const { rounds, pass } = extract.extract;
    lines.push(
      '',
      '### Extraction vs `tar -x`',
      '',
      `Ours ÷ tar throughput in ${rounds.length} consecutive rounds: ${rounds.map((x) => `${x.toFixed(2)}×`).join(', ')}: ` +
        `${pass ? 'at or above' : 'below'} tar in ${pass ? 'every round' : `${rounds.filter((x) => x < 1).length} of them`}.`,
    );
  } else if (extract)
    lines.push(
      '',
      '### Extraction vs `tar -x`',
      '',
      `Not measured: ${extract.skipped ?? 'no per-round figures in this run'}.`,
    );
  lines.push('');
  return lines;
}

export function markdown(report) {
  const { machine, engines, rows } = report;
  const lines = [];
  lines.push('# ts-container benchmarks', '');
  lines.push(
    `Run ${report.date} in ${Math.round(report.durationSeconds)} s on ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, ` +
      `${machine.os}, kernel ${machine.kernel}, cgroups ${machine.cgroups}, Node ${machine.node}. ` +
      `Load average (1 min) at start ${report.loadAverage.start}, at end ${report.loadAverage.end}` +
      ' (anything above the core count means other work shared the machine: compare ratios, not absolute times).',
    '',
  );
  lines.push('| engine | version |', '| --- | --- |');
  for (const [id, e] of Object.entries(engines))
    lines.push(`| ${HEAD[id] ?? id} | ${e.version ?? `not run: ${e.skipped}`} |`);
  lines.push('');
  lines.push(...summaryMarkdown(rows));
  lines.push('## All workloads', '');
  lines.push(
    'Each cell: median (min–max) over n runs per engine (after one unrecorded warm-up run for the quick workloads), engines alternated run by run in a rotating order, reversed every other run (no engine always follows the same one); each run of a workload that writes tens of MB (builds, commit, save, load, pull, push) starts after a `sync`, untimed. ' +
      '"docker CLI → tsctrd" is the same docker CLI (Go) talking to our daemon, running the same commands as the Docker column (for builds the same classic builder; in the BuildKit rows both columns of ours go through the classic /build API): the gap between it and `tsctr` is our CLI. ' +
      '"best of ours" names the better of those two columns (lower median; higher for ops/s and MB/s), and the two ratios use it: ' +
      'ratio = best of ours ÷ theirs on medians: above 1 we are slower or bigger (for ops/s and MB/s: below 1 we do less), below 1 we are faster or smaller.',
    '',
  );
  const notes = [];
  const noteRef = (text) => {
    let i = notes.indexOf(text);
    if (i < 0) i = notes.push(text) - 1;
    return `[${i + 1}]`;
  };
  lines.push(
    `| workload | unit | n | ${ENGINE_IDS.map((id) => HEAD[id]).join(' | ')} | best of ours | best ours/Docker | best ours/Podman |`,
    `| --- | --- | ---: |${ENGINE_IDS.map(() => ' ---: |').join('')} --- | ---: | ---: |`,
  );
  for (const row of rows) {
    if (row.kind) continue;
    const cells = ENGINE_IDS.map((id) => {
      const r = row.results[id];
      if (!r) return '–';
      if (r.skipped) return `skipped ${noteRef(`${HEAD[id]}, ${row.title}: ${r.skipped}`)}`;
      if (r.n === 1) return `**${fmt(r.median)}**`;
      return `**${fmt(r.median)}** (${fmt(r.min)}–${fmt(r.max)})`;
    });
    const title = row.note ? `${row.title} ${noteRef(row.note)}` : row.title;
    const rt = (x) => (x === undefined ? '–' : `${x.toFixed(2)}×`);
    const n = Math.max(0, ...Object.values(row.results).map((r) => r.n ?? 0)) || '–';
    lines.push(
      `| ${title} | ${row.unit} | ${n} | ${cells.join(' | ')} | ${row.best ? (SHORT[row.best] ?? row.best) : '–'} | ${rt(row.ratios?.docker)} | ${rt(row.ratios?.podman)} |`,
    );
  }
  const micro = rows.filter((r) => r.kind === 'micro');
  if (micro.length) {
    lines.push('', '## Our components alone', '');
    lines.push('| benchmark | unit | figures |', '| --- | --- | --- |');
    for (const row of micro) {
      const figs = row.skipped
        ? `skipped: ${row.skipped}`
        : Object.entries(row.figures)
            .map(([k, v]) => `${k}: **${v}**`)
            .join(', ');
      lines.push(`| ${row.title} | ${row.unit} | ${figs} |`);
    }
  }
  lines.push(...curvesMarkdown(report, noteRef));
  for (const row of rows.filter((r) => r.kind === 'table')) {
    lines.push('', `## ${row.title}`, '');
    lines.push(`| ${row.columns.join(' | ')} |`, `| ${row.columns.map(() => '---').join(' | ')} |`);
    for (const r of row.rows) lines.push(`| ${r.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`);
  }
  if (notes.length) {
    lines.push('', '## Notes', '');
    notes.forEach((n, i) => lines.push(`${i + 1}. ${n.replace(/\|/g, '\\|')}`));
  }
  lines.push('');
  return lines.join('\n');
}

/** Where a curve's chart goes, relative to the Markdown file. */
const chartPath = (report, row) => `charts/${report.name ?? 'latest'}-${row.id}.svg`;

/** The SVG charts of the curves: [{ path (relative to the results directory), svg }]. */
export function charts(report) {
  return report.rows
    .filter((r) => r.kind === 'curve')
    .map((row) => ({
      path: chartPath(report, row),
      svg: lineChart({
        title: row.title.replace(/`/g, ''),
        xLabel: row.xLabel,
        yLabel: row.unit,
        series: ENGINE_IDS.filter((id) => row.series[id]?.some((c) => c && !c.skipped)).map((id) => ({
          name: HEAD[id] ?? id,
          points: row.sizes.map((x, i) => [x, row.series[id][i]?.median]),
        })),
      }),
    }));
}

/** Exponents above this between two sizes are called faster than linear. */
const SUPERLINEAR = 1.1;
/** Exponents above this on a curve that should be flat (`run` beside N containers, `--tail`). */
const FLAT_LIMIT = 0.5;

function curvesMarkdown(report, noteRef) {
  const curves = report.rows.filter((r) => r.kind === 'curve');
  if (curves.length === 0) return [];
  const lines = ['', '## How cost grows', ''];
  lines.push(
    "Each curve: median (min–max) per size and engine over 2 runs, up to 7 while a size's runs of all engines fit in 3 s (cheap queries get a stable median), the chart beside it (log-scaled sizes). " +
      'k is the local exponent between two sizes (time ∝ size^k): 0 is flat, 1 linear, above 1 faster than linear; ' +
      'between close sizes (100→125) noise alone moves k by ±1, so only a rise over 3× in size or 1.5× in time is named below.',
  );
  const worse = [];
  const notFlat = [];
  for (const row of curves) {
    const engines = ENGINE_IDS.filter((id) => row.series[id]);
    lines.push('', `### ${row.title}${row.note ? ` ${noteRef(row.note)}` : ''}`, '');
    lines.push(`![${row.title.replace(/`/g, '')}](${chartPath(report, row)})`, '');
    lines.push(
      `| ${row.xLabel} | ${engines.map((id) => `${HEAD[id] ?? id} (${row.unit})`).join(' | ')} | tsctr/Docker | docker CLI → tsctrd / Docker |`,
      `| ---: |${engines.map(() => ' ---: |').join('')} ---: | ---: |`,
    );
    row.sizes.forEach((x, i) => {
      const cells = engines.map((id) => {
        const c = row.series[id][i];
        if (!c) return '–';
        if (c.skipped) return `skipped ${noteRef(`${HEAD[id] ?? id}, ${row.title} at ${x}: ${c.skipped}`)}`;
        return c.n > 1 ? `**${fmt(c.median)}** (${fmt(c.min)}–${fmt(c.max)})` : `**${fmt(c.median)}**`;
      });
      const rt = (id) => {
        const r = ratio(row.series[id]?.[i], row.series.docker?.[i]);
        return r === undefined ? '–' : `${r.toFixed(2)}×`;
      };
      lines.push(`| ${x} | ${cells.join(' | ')} | ${rt('tsctr')} | ${rt('docker→tsctrd')} |`);
    });
    const ks = [];
    for (const id of engines) {
      const e = localExponents(row.sizes.map((x, i) => [x, row.series[id][i]?.median]));
      if (e.length === 0) continue;
      ks.push(`${HEAD[id] ?? id}: ${e.map((k) => `${k.from}→${k.to} k=${k.k}`).join(', ')}`);
      // Between close sizes (100→125) noise alone moves k a lot: only a clear rise is named.
      const ys = Object.fromEntries(row.sizes.map((x, i) => [x, row.series[id][i]?.median]));
      const clear = (k) => k.to / k.from >= 3 || ys[k.to] / ys[k.from] >= 1.5;
      for (const k of e)
        if (row.expect === 'flat' && k.k > FLAT_LIMIT && clear(k))
          notFlat.push(`${row.title}, ${HEAD[id] ?? id}, ${k.from}→${k.to}: k=${k.k}`);
      for (const k of e)
        if (k.k > SUPERLINEAR && clear(k))
          worse.push(`${row.title}, ${HEAD[id] ?? id}, ${k.from}→${k.to}: k=${k.k}`);
    }
    if (ks.length) lines.push('', `Local exponents: ${ks.join('; ')}.`);
  }
  lines.push('', '### Faster than linear', '');
  if (worse.length === 0) lines.push(`Nowhere: every local exponent is at most ${SUPERLINEAR}.`);
  else for (const w of worse) lines.push(`- ${w}`);
  lines.push('', '### Growing where the cost should not depend on the size', '');
  if (notFlat.length === 0) lines.push(`Nowhere: every such exponent is at most ${FLAT_LIMIT}.`);
  else for (const w of notFlat) lines.push(`- ${w}`);
  return lines;
}

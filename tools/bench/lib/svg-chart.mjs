// A small SVG line chart with no dependencies: log-scaled x axis (a 0 is drawn one decade
// left of the smallest size and labelled 0), y linear from 0 or log-scaled when the values span
// more than 30×, one line per series with a legend, and labelled axes.

const W = 640;
const H = 360;
const M = { left: 70, right: 160, top: 36, bottom: 60 };
const COLORS = ['#d62728', '#ff7f0e', '#1f77b4', '#2ca02c', '#9467bd', '#8c564b'];

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceNumber(x) {
  if (x >= 1e6) return `${x / 1e6}M`;
  if (x >= 1e3) return `${x / 1e3}k`;
  return String(Math.round(x * 100) / 100);
}

/** Ticks for a linear axis from 0 to about `max`: 1, 2 or 5 × a power of ten apart. */
function linearTicks(max) {
  const raw = max / 5;
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const ticks = [];
  for (let t = 0; t <= max + step / 2; t += step) ticks.push(t);
  return ticks;
}

/** Powers of ten covering [min, max] (at least two ticks). */
function logTicks(min, max) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) ticks.push(10 ** e);
  return ticks;
}

/**
 * `series`: [{ name, points: [[x, y], …] }] (y null/undefined where an engine has no figure).
 * Returns the SVG text.
 */
export function lineChart({ title, xLabel, yLabel, series }) {
  const points = series.flatMap((s) => s.points.filter(([, y]) => Number.isFinite(y)));
  const xs = [...new Set(series.flatMap((s) => s.points.map(([x]) => x)))].sort((a, b) => a - b);
  const positive = xs.filter((x) => x > 0);
  const xMin = positive[0] ?? 1;
  const xMax = positive.at(-1) ?? 10;
  const zeroAt = xMin / 10;
  const lx = (x) => Math.log10(x > 0 ? x : zeroAt);
  const lo = lx(xs[0] ?? xMin);
  const hi = Math.max(lx(xMax), lo + 1);
  const px = (x) => M.left + ((lx(x) - lo) / (hi - lo)) * (W - M.left - M.right);

  const ys = points.map(([, y]) => y);
  const yMaxRaw = Math.max(...ys, 0) || 1;
  const yMinPos = Math.min(...ys.filter((y) => y > 0));
  const logY = ys.length > 0 && ys.every((y) => y > 0) && yMaxRaw / yMinPos > 30;
  let py;
  let yTicks;
  if (logY) {
    yTicks = logTicks(yMinPos, yMaxRaw);
    const [a, b] = [Math.log10(yTicks[0]), Math.log10(yTicks.at(-1))];
    py = (y) => H - M.bottom - ((Math.log10(y) - a) / (b - a || 1)) * (H - M.top - M.bottom);
  } else {
    yTicks = linearTicks(yMaxRaw * 1.05);
    const top = yTicks.at(-1);
    py = (y) => H - M.bottom - (y / top) * (H - M.top - M.bottom);
  }

  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - M.right / 2 + M.left / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  );
  const x0 = M.left;
  const x1 = W - M.right;
  const y0 = H - M.bottom;
  const y1 = M.top;
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="black"/>`);
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="black"/>`);
  let lastLabel = Number.NEGATIVE_INFINITY;
  for (const x of xs) {
    const X = px(x).toFixed(1);
    out.push(`<line x1="${X}" y1="${y0}" x2="${X}" y2="${y1}" stroke="#ddd"/>`);
    // Close sizes (100 and 125) would print over each other: the second label goes lower.
    const dy = Number(X) - lastLabel < 28 ? 30 : 16;
    if (dy === 16) lastLabel = Number(X);
    out.push(`<text x="${X}" y="${y0 + dy}" text-anchor="middle">${niceNumber(x)}</text>`);
  }
  for (const t of yTicks) {
    const Y = py(t).toFixed(1);
    out.push(`<line x1="${x0}" y1="${Y}" x2="${x1}" y2="${Y}" stroke="#eee"/>`);
    out.push(`<text x="${x0 - 6}" y="${Number(Y) + 4}" text-anchor="end">${niceNumber(t)}</text>`);
  }
  out.push(
    `<text x="${(x0 + x1) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)} (log scale)</text>`,
    `<text transform="translate(16 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}${logY ? ' (log scale)' : ''}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!logY || y > 0));
    if (pts.length > 1)
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`,
      );
    for (const [x, y] of pts)
      out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = M.top + 10 + i * 20;
    out.push(
      `<line x1="${x1 + 14}" y1="${ly}" x2="${x1 + 34}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${x1 + 40}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>', '');
  return out.join('\n');
}

/**
 * Local exponents k between consecutive sizes (y ∝ x^k between them): 1 is linear growth,
 * 0 flat, above 1 faster than linear. Sizes of 0 and missing values are skipped.
 */
export function localExponents(points) {
  const pts = points.filter(([x, y]) => x > 0 && Number.isFinite(y) && y > 0);
  const out = [];
  for (let i = 1; i < pts.length; i++) {
    const [xa, ya] = pts[i - 1];
    const [xb, yb] = pts[i];
    out.push({ from: xa, to: xb, k: Math.round((Math.log(yb / ya) / Math.log(xb / xa)) * 100) / 100 });
  }
  return out;
}

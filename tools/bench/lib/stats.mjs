// Summaries of samples: the median is what the table compares; min and max show the spread.
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return undefined;
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { n, median: round(median), min: round(sorted[0]), max: round(sorted[n - 1]) };
}

export function round(x) {
  if (!Number.isFinite(x)) return x;
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return Number(x.toFixed(digits));
}

/**
 * Engine order for repetition `rep`: rotated so no engine always runs first (or last), and
 * reversed every other repetition so no engine always runs right after the same one. With
 * rotations alone the docker CLI against our daemon always ran right after `tsctr`, and Docker
 * always right after that same docker CLI binary: whatever a run leaves behind (CPU caches
 * filled with another binary, a daemon still finishing the last call) fell on the same column
 * in every repetition.
 */
export function rotation(engines, rep) {
  if (engines.length === 0) return [];
  const k = Math.floor(rep / 2) % engines.length;
  const rotated = [...engines.slice(k), ...engines.slice(0, k)];
  return rep % 2 === 0 ? rotated : rotated.reverse();
}

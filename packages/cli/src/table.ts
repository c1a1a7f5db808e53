/**
 * Aligns rows the way Docker's tabwriter does (minwidth 10, padding 3): every column but the
 * last is as wide as its widest cell plus three spaces, and at least ten.
 */
export function renderTable(rows: string[][]): string {
  if (rows.length === 0) return '';
  const cols = Math.max(...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < cols - 1; c++)
    widths[c] = Math.max(10, ...rows.map((r) => displayWidth(r[c] ?? '') + 3));
  return rows
    .map((r) =>
      r
        .map((cell, c) =>
          c < cols - 1 ? cell + ' '.repeat(Math.max(0, widths[c]! - displayWidth(cell))) : cell,
        )
        .join(''),
    )
    .join('\n');
}

function displayWidth(s: string): number {
  return [...s].length;
}

import { humanDuration } from '@ts-container/common';
import { renderTable } from './table.js';
import { plainFields } from './template-funcs.js';
import { renderTemplate } from './template.js';

/**
 * Renders a list the way Docker's formatter does: `table` (the default, or `table {{…}}`),
 * `json` (one JSON object per line), or a Go template applied to each item.
 */
export function formatList<T extends object>(
  items: T[],
  format: string | undefined,
  defaultTable: string,
  headers: Record<string, string>,
): string {
  // As Docker's formatter: the two-character escapes `\t` and `\n` typed in a shell become real ones.
  const f = (format === undefined || format === '' || format === 'table' ? `table ${defaultTable}` : format)
    .replace(/\\t/g, '\t')
    .replace(/\\n/g, '\n');
  if (f === 'json') return items.map((i) => `${JSON.stringify(plainFields(i))}\n`).join('');
  if (f.startsWith('table')) {
    const template = f.slice(5).trim() || defaultTable;
    const cells = (row: string) => row.split('\t');
    const headerRow = cells(
      renderTemplate(
        template,
        new Proxy({}, { get: (_t, k) => headers[String(k)] ?? String(k).toUpperCase() }),
      ),
    );
    const rows = items.map((i) => cells(renderTemplate(template, i)));
    return `${renderTable([headerRow, ...rows])}\n`;
  }
  return items.map((i) => `${renderTemplate(f, i)}\n`).join('');
}

export function timeAgo(unixSeconds: number, now = Date.now() / 1000): string {
  return `${humanDuration((now - unixSeconds) * 1000)} ago`;
}

export { humanDuration, humanSize } from '@ts-container/common';

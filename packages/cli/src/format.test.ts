import { describe, expect, it } from 'vitest';
import { formatList } from './format.js';

const rows = [
  { Names: 'web', Status: 'Up 2 seconds' },
  { Names: 'db-primary', Status: 'Exited (0) 1 minute ago' },
];

describe('formatList', () => {
  it('turns a typed \\t into table columns, as the docker CLI does', () => {
    const out = formatList(rows, String.raw`table {{.Names}}\t{{.Status}}`, '{{.Names}}', { Names: 'NAMES' });
    expect(out).toBe(
      'NAMES        STATUS\nweb          Up 2 seconds\ndb-primary   Exited (0) 1 minute ago\n',
    );
  });

  it('turns typed \\t and \\n into real ones in plain templates', () => {
    expect(formatList(rows.slice(0, 1), String.raw`{{.Names}}\t{{.Status}}\n`, '', {})).toBe(
      'web\tUp 2 seconds\n\n',
    );
  });

  it('prints one JSON object per line for json', () => {
    expect(formatList(rows.slice(0, 1), 'json', '', {})).toBe('{"Names":"web","Status":"Up 2 seconds"}\n');
  });
});

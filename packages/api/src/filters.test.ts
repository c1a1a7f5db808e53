import { describe, expect, it } from 'vitest';
import { labelFilterMatches } from './filters.js';

describe('labelFilterMatches', () => {
  it('matches a key alone or key=value, splitting at the first =', () => {
    const labels = { tier: 'front', expr: 'a=b', empty: '' };
    expect(labelFilterMatches(labels, 'tier')).toBe(true);
    expect(labelFilterMatches(labels, 'tier=front')).toBe(true);
    expect(labelFilterMatches(labels, 'tier=back')).toBe(false);
    expect(labelFilterMatches(labels, 'expr=a=b')).toBe(true);
    expect(labelFilterMatches(labels, 'empty=')).toBe(true);
    expect(labelFilterMatches(labels, 'missing')).toBe(false);
    expect(labelFilterMatches(null, 'tier')).toBe(false);
    expect(labelFilterMatches(labels, 'toString')).toBe(false);
  });
});

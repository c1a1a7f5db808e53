import { describe, expect, it } from 'vitest';
import { labelFilterMatches } from './filters.js';
import { humanDuration, humanSize } from './units.js';

describe('Docker units', () => {
  it.each([
    [500, 'Less than a second'],
    [1_000, '1 second'],
    [5_999, '5 seconds'],
    [90_000, 'About a minute'],
    [30 * 60_000, '30 minutes'],
    [3 * 3600_000, '3 hours'],
    [5 * 86_400_000, '5 days'],
  ])('humanDuration(%i) = %s', (ms, text) => expect(humanDuration(ms)).toBe(text));

  it.each([
    [0, '0B'],
    [999, '999B'],
    [1_980_000, '1.98MB'],
    [1_234_567_890, '1.23GB'],
  ])('humanSize(%i) = %s', (n, text) => expect(humanSize(n)).toBe(text));
});

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

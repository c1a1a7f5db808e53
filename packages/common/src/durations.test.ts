import { describe, expect, it } from 'vitest';
import { humanDuration, parseGoDuration } from './durations.js';

describe('parseGoDuration (Go time.ParseDuration, to nanoseconds)', () => {
  it.each([
    ['0', 0],
    ['500ms', 500e6],
    ['30s', 30e9],
    ['1m30s', 90e9],
    ['1.5h', 5400e9],
    ['2h45m', 9900e9],
    ['10us', 10e3],
    ['10µs', 10e3],
    ['7ns', 7],
    ['.5s', 500e6],
    ['-1s', -1e9],
    ['+2m', 120e9],
  ])('%s = %i', (text, ns) => expect(parseGoDuration(text)).toBe(ns));

  it.each(['', '10', '1x', 's', '1m30', '-', '1 s'])('rejects %j with Go message', (text) => {
    expect(() => parseGoDuration(text)).toThrow(`time: invalid duration "${text}"`);
  });
});

describe('humanDuration (go-units HumanDuration)', () => {
  it.each([
    [500, 'Less than a second'],
    [1_000, '1 second'],
    [5_999, '5 seconds'],
    [90_000, 'About a minute'],
    [30 * 60_000, '30 minutes'],
    [3600_000, 'About an hour'],
    [3 * 3600_000, '3 hours'],
    [5 * 86_400_000, '5 days'],
    [21 * 86_400_000, '3 weeks'],
    [90 * 86_400_000, '3 months'],
    [3 * 365 * 86_400_000, '3 years'],
  ])('humanDuration(%i) = %s', (ms, text) => expect(humanDuration(ms)).toBe(text));
});

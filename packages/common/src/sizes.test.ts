import { describe, expect, it } from 'vitest';
import { TypedError } from './errors.js';
import { bytesSize, fromHumanSize, humanSize, ramInBytes } from './sizes.js';

describe('ramInBytes (go-units RAMInBytes: binary multiples)', () => {
  it.each([
    ['1024', 1024],
    ['512k', 512 * 1024],
    ['10m', 10 * 1024 ** 2],
    ['10MB', 10 * 1024 ** 2],
    ['10MiB', 10 * 1024 ** 2],
    ['1.5g', 1.5 * 1024 ** 3],
    ['2 t', 2 * 1024 ** 4],
    ['1p', 1024 ** 5],
    ['32b', 32],
    ['0.5k', 512],
    ['1.0001k', 1024], // truncated towards zero, as Go's int64()
  ])('%s = %i', (text, bytes) => expect(ramInBytes(text)).toBe(bytes));

  it.each(['', 'lots', '-1m', '10x', '1..5m', '1.5.3m', ' 10m', '10mm'])(
    'rejects %j with a typed invalid-parameter error',
    (text) => {
      expect(() => ramInBytes(text)).toThrow(`invalid size: '${text}'`);
      try {
        ramInBytes(text);
      } catch (err) {
        expect(err).toBeInstanceOf(TypedError);
        expect((err as TypedError).kind).toBe('invalid-parameter');
      }
    },
  );
});

describe('fromHumanSize (go-units FromHumanSize: decimal multiples)', () => {
  it.each([
    ['1000', 1000],
    ['10k', 10_000],
    ['10MB', 10_000_000],
    ['1.5g', 1_500_000_000],
  ])('%s = %i', (text, bytes) => expect(fromHumanSize(text)).toBe(bytes));

  it('rejects what RAMInBytes rejects', () =>
    expect(() => fromHumanSize('lots')).toThrow("invalid size: 'lots'"));
});

describe('humanSize (go-units HumanSizeWithPrecision) and bytesSize', () => {
  it.each([
    [0, '0B'],
    [999, '999B'],
    [2_048, '2.05kB'],
    [1_980_000, '1.98MB'],
    [1_234_567_890, '1.23GB'],
  ])('humanSize(%i) = %s', (n, text) => expect(humanSize(n)).toBe(text));

  it('takes a precision: 4 digits as `docker system df` prints', () => {
    expect(humanSize(16_434_000, 4)).toBe('16.43MB');
    expect(humanSize(0, 4)).toBe('0B');
  });

  it.each([
    [0, '0B'],
    [1023, '1023B'],
    [1536, '1.5KiB'],
    [1.5 * 1024 ** 3, '1.5GiB'],
  ])('bytesSize(%i) = %s', (n, text) => expect(bytesSize(n)).toBe(text));
});

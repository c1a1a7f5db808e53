import { invalidParameter } from './errors.js';

// docker/go-units: `RAMInBytes` (binary multiples, for --memory, --shm-size, max-size…) and
// `FromHumanSize` (decimal multiples) accept the same syntax and differ only in the base.
const SIZE = /^(\d+(?:\.\d+)*) ?([kmgtp])?i?b?$/i;
const POWER: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4, p: 5 };

function parseSize(value: string, base: number): number {
  const m = SIZE.exec(value);
  const size = m ? Number(m[1]) : Number.NaN;
  if (!m || Number.isNaN(size)) throw invalidParameter(`invalid size: '${value}'`);
  // Go truncates the float towards zero (int64(size * multiplier)).
  return Math.trunc(size * base ** POWER[(m[2] ?? '').toLowerCase()]!);
}

/** go-units RAMInBytes: `512m`, `1.5g`, `1024`, `10KiB` → bytes with binary multiples (k = 1024). */
export function ramInBytes(value: string): number {
  return parseSize(value, 1024);
}

/** go-units FromHumanSize: `10MB`, `1.5k` → bytes with decimal multiples (k = 1000). */
export function fromHumanSize(value: string): number {
  return parseSize(value, 1000);
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

function customSize(bytes: number, base: number, units: string[], precision: number): string {
  let v = bytes;
  let i = 0;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  // Go's `%.<precision>g`, without trailing zeros.
  return `${Number(v.toPrecision(precision))}${units[i]}`;
}

/**
 * go-units HumanSizeWithPrecision: decimal units (`1.98MB`). The docker CLI prints 3 significant
 * digits in most places (HumanSize) and 4 in `docker system df` and `image save` sizes.
 */
export function humanSize(bytes: number, precision = 3): string {
  return customSize(bytes, 1000, DECIMAL_UNITS, precision);
}

/** go-units BytesSize: binary units, 4 significant digits (`1.5GiB`), as `docker stats` prints memory. */
export function bytesSize(bytes: number): string {
  return customSize(bytes, 1024, BINARY_UNITS, 4);
}

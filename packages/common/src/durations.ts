import { invalidParameter } from './errors.js';

const NANOS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign
  μs: 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};
const TERM = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/**
 * Go's time.ParseDuration (`1m30s`, `500ms`, `-1.5h`, `0`) → nanoseconds; used for HEALTHCHECK
 * and `--health-*` flags, `--stop-timeout`-like options. Throws Go's message on bad input.
 */
export function parseGoDuration(text: string): number {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw invalidParameter(`time: invalid duration "${text}"`);
  let total = 0;
  while (s.length > 0) {
    const m = TERM.exec(s);
    if (!m) throw invalidParameter(`time: invalid duration "${text}"`);
    total += Number(m[1]) * NANOS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return Math.round(sign * total);
}

/**
 * go-units HumanDuration: what `docker ps` and `docker images` print for "Up 5 minutes" and
 * "2 hours ago" (the daemon's container Status and the CLI's CREATED columns).
 */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

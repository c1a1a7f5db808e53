// The values side of the `--format` templates (template.ts): Go's `%v` formatting, truth,
// printf, and the functions Docker's templates offer.

export type Funcs = Record<string, (...args: unknown[]) => unknown>;

/** Go templates' truth: false, 0, nil, and empty strings, arrays and maps are false. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

/** Go's default formatting of values (`%v`). */
export function formatValue(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(' ')}]`;
  if (typeof v === 'object') {
    const ownToString = (v as { toString(): string }).toString;
    if (ownToString !== Object.prototype.toString) return String(v);
    return `map[${Object.keys(v as object)
      .sort()
      .map((k) => `${k}:${formatValue((v as Record<string, unknown>)[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

/** Docker's template functions, over Go's `%v` formatting of values. */
export const builtinFuncs: Funcs = {
  json: (v) => JSON.stringify(v === undefined ? null : plainFields(v)),
  join: (list, sep) => (Array.isArray(list) ? list.map(formatValue).join(String(sep)) : formatValue(list)),
  index: (v, ...keys) =>
    keys.reduce(
      (acc: unknown, k) => (acc == null ? undefined : (acc as Record<string, unknown>)[String(k)]),
      v,
    ),
  upper: (s) => formatValue(s).toUpperCase(),
  lower: (s) => formatValue(s).toLowerCase(),
  title: (s) => formatValue(s).replace(/\b\w/g, (c) => c.toUpperCase()),
  split: (s, sep) => formatValue(s).split(String(sep)),
  len: (v) =>
    Array.isArray(v) || typeof v === 'string'
      ? v.length
      : v && typeof v === 'object'
        ? Object.keys(v).length
        : 0,
  print: (...a) => a.map(formatValue).join(''),
  println: (...a) => `${a.map(formatValue).join(' ')}\n`,
  printf: (fmt, ...a) => sprintf(String(fmt), a),
  truncate: (s, n) => formatValue(s).slice(0, Number(n)),
  pad: (s, l, r) => `${' '.repeat(Number(l))}${formatValue(s)}${' '.repeat(Number(r))}`,
  eq: (a, ...b) => b.some((x) => x === a),
  ne: (a, b) => a !== b,
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
  and: (...a) => a.reduce((acc, x) => (truthy(acc) ? x : acc)),
  or: (...a) => a.find((x) => truthy(x)) ?? a.at(-1),
  not: (a) => !truthy(a),
};

function sprintf(fmt: string, args: unknown[]): string {
  let i = 0;
  return fmt.replace(
    /%([-+ 0#]*)(\d*)(?:\.(\d+))?([svdqfx%])/g,
    (_m, flags: string, width: string, prec: string | undefined, verb: string) => {
      if (verb === '%') return '%';
      const a = args[i++];
      let s: string;
      switch (verb) {
        case 'q':
          s = JSON.stringify(formatValue(a));
          break;
        case 'd':
          s = String(Math.trunc(Number(a)));
          break;
        case 'f':
          s = Number(a).toFixed(prec === undefined ? 6 : Number(prec));
          break;
        case 'x':
          s = typeof a === 'number' ? a.toString(16) : Buffer.from(formatValue(a)).toString('hex');
          break;
        default:
          s = formatValue(a);
      }
      const w = Number(width || 0);
      return flags.includes('-')
        ? s.padEnd(w)
        : s.padStart(w, flags.includes('0') && verb !== 's' ? '0' : ' ');
    },
  );
}

/**
 * What `{{json .}}` shows for a formatter row (a class whose fields are getters, as the
 * docker CLI's contexts are): the getters' values. Plain data is returned as it is.
 */
export function plainFields(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === null || proto === Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (
    let p: object | null = proto;
    p && p !== Object.prototype;
    p = Object.getPrototypeOf(p) as object | null
  ) {
    for (const [key, d] of Object.entries(Object.getOwnPropertyDescriptors(p))) {
      if (key === 'constructor' || key in out || key.startsWith('_') || !d.get) continue;
      out[key] = (value as Record<string, unknown>)[key];
    }
  }
  return Object.keys(out)
    .sort()
    .reduce<Record<string, unknown>>((sorted, k) => {
      sorted[k] = out[k];
      return sorted;
    }, {});
}

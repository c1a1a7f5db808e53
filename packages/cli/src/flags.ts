/** Docker/cobra-style flags: `-it`, `-e A=b`, `--name x`, `--name=x`, repeated list flags. */
export type FlagType = 'bool' | 'string' | 'list' | 'int';

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  description: string;
  default?: string | number | boolean;
  /** Placeholder shown in help, e.g. `string`, `list`. */
  hidden?: boolean;
}

export class FlagError extends Error {}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export interface ParsedArgs {
  flags: FlagValues;
  args: string[];
}

/**
 * Parses `argv` against `specs`. With `interspersed: false` (run, exec) parsing stops at the
 * first positional argument: everything after the image belongs to the container's command.
 */
export function parseFlags(
  specs: FlagSpec[],
  argv: string[],
  options: { interspersed?: boolean } = {},
): ParsedArgs {
  const interspersed = options.interspersed ?? true;
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags: FlagValues = {};
  for (const s of specs) {
    if (s.type === 'list') flags[s.name] = [];
    else if (s.default !== undefined) flags[s.name] = s.default;
    else if (s.type === 'bool') flags[s.name] = false;
  }
  const args: string[] = [];
  const set = (spec: FlagSpec, value: string | undefined, display: string) => {
    if (spec.type === 'bool') {
      if (value === undefined || value === 'true') flags[spec.name] = true;
      else if (value === 'false') flags[spec.name] = false;
      else
        throw new FlagError(
          `invalid argument "${value}" for "${display}" flag: strconv.ParseBool: parsing "${value}": invalid syntax`,
        );
      return;
    }
    if (value === undefined) throw new FlagError(`flag needs an argument: ${display}`);
    if (spec.type === 'int') {
      if (!/^-?\d+$/.test(value))
        throw new FlagError(
          `invalid argument "${value}" for "${display}" flag: strconv.ParseInt: parsing "${value}": invalid syntax`,
        );
      flags[spec.name] = Number(value);
    } else if (spec.type === 'list') {
      (flags[spec.name] as string[]).push(value);
    } else {
      flags[spec.name] = value;
    }
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      const spec = byName.get(name);
      if (!spec) throw new FlagError(`unknown flag: --${name}`);
      const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
      const value = spec.type === 'bool' || inline !== undefined ? inline : argv[++i];
      set(spec, value, `--${name}`);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // Grouped shorthand: -it, -p80:80 (a value flag takes the rest of the group).
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j]!;
        const spec = byShort.get(ch);
        if (!spec) throw new FlagError(`unknown shorthand flag: '${ch}' in ${arg}`);
        const display = `-${ch}, --${spec.name}`;
        if (spec.type === 'bool') {
          if (arg[j + 1] === '=') {
            set(spec, arg.slice(j + 2), display);
            break;
          }
          set(spec, undefined, display);
          continue;
        }
        const rest = arg.slice(j + 1);
        set(spec, rest !== '' ? rest.replace(/^=/, '') : argv[++i], display);
        break;
      }
      continue;
    }
    args.push(arg);
    if (!interspersed) {
      args.push(...argv.slice(i + 1));
      break;
    }
  }
  return { flags, args };
}

export function flagHelp(specs: FlagSpec[]): string {
  const rows = specs
    .filter((s) => !s.hidden)
    .map((s) => {
      const names = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.type === 'bool' ? '' : ` ${s.type === 'list' ? 'list' : s.type}`}`;
      return [
        names,
        s.description +
          (s.default !== undefined && s.type !== 'bool' ? ` (default ${JSON.stringify(s.default)})` : ''),
      ];
    });
  const width = Math.max(0, ...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `  ${a!.padEnd(width)}   ${b}`).join('\n');
}

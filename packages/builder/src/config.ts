import { posix } from 'node:path';
import type { ImageRunConfig } from '@ts-container/image';
import { DockerfileParseError } from './errors.js';
import type { Instruction } from './instructions.js';
import { type ShellEnv, expandWord, expandWords } from './shell.js';

export type { ImageRunConfig };

/** The shell a shell-form command runs through when the Dockerfile has no SHELL. */
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

export function shellOf(config: ImageRunConfig): string[] {
  return config.Shell && config.Shell.length > 0 ? [...config.Shell] : [...DEFAULT_SHELL];
}

export interface ApplyOptions {
  /** The Dockerfile's escape character (`# escape=`). */
  escapeToken?: string;
  /**
   * Whether CMD was already set earlier in the same stage. Docker's ENTRYPOINT clears an
   * inherited CMD but keeps one set before it in the same stage.
   */
  cmdSet?: boolean;
}

const SIGNALS = new Set(
  'ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT SEGV STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ'.split(
    ' ',
  ),
);

/** Docker's signal check for STOPSIGNAL: `SIGTERM`, `TERM`, `9`, `SIGRTMIN+3`. */
export function validateSignal(signal: string): void {
  if (/^\d+$/.test(signal)) {
    if (Number(signal) >= 1 && Number(signal) <= 64) return;
  } else {
    const name = signal.toUpperCase().replace(/^SIG/, '');
    if (SIGNALS.has(name) || /^RTM(IN|AX)([+-]\d+)?$/.test(name)) return;
  }
  throw new Error(`Invalid signal: ${signal}`);
}

/** `80`, `80/tcp`, `8000-8002/udp`, `127.0.0.1:80:80` → the exposed-port keys (`80/tcp`). */
export function parseExposedPorts(spec: string): string[] {
  const container = spec.includes(':') ? spec.slice(spec.lastIndexOf(':') + 1) : spec;
  const [range = '', proto = 'tcp'] = container.split('/');
  const m = /^(\d+)(?:-(\d+))?$/.exec(range);
  const protocol = proto.toLowerCase();
  if (!m || !['tcp', 'udp', 'sctp'].includes(protocol))
    throw new Error(`Invalid containerPort: ${container}`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start < 1 || end > 65535 || end < start) throw new Error(`Invalid containerPort: ${container}`);
  const ports: string[] = [];
  for (let p = start; p <= end; p++) ports.push(`${p}/${protocol}`);
  return ports;
}

/** Docker's ENV update: an existing key is replaced in place, a new one appended. */
export function setEnv(env: readonly string[] | null | undefined, key: string, value: string): string[] {
  const out = [...(env ?? [])];
  const i = out.findIndex((kv) => kv.split('=', 1)[0] === key);
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

/** Docker's WORKDIR rule: a relative path is joined to the previous working directory. */
export function resolveWorkdir(current: string | undefined, requested: string): string {
  return posix.isAbsolute(requested)
    ? posix.normalize(requested)
    : posix.join('/', current ?? '/', requested);
}

/** Shell form → `[...SHELL, command]`; exec form as is. */
export function commandLine(
  config: ImageRunConfig,
  command: readonly string[],
  prependShell: boolean,
): string[] {
  return prependShell ? [...shellOf(config), command.join(' ')] : [...command];
}

/**
 * The effect of one metadata instruction on an image's run config, as Docker's builder applies
 * it. `vars` are the variables visible for substitution at this point (ARG values overridden by
 * ENV). Instructions without a config effect (RUN, COPY, ADD, ARG, FROM, MAINTAINER) return the
 * config unchanged. Never mutates its input. Throws for invalid values (bad port, bad signal).
 */
export function applyInstructionToConfig(
  config: ImageRunConfig,
  instruction: Instruction,
  vars: ShellEnv,
  options: ApplyOptions = {},
): ImageRunConfig {
  const lex = options.escapeToken === undefined ? {} : { escapeToken: options.escapeToken };
  const word = (s: string) => expandWord(s, vars, lex);
  try {
    switch (instruction.kind) {
      case 'ENV': {
        let env = config.Env ?? [];
        // All pairs of one ENV see the variables from before the instruction.
        for (const { key, value } of instruction.pairs) env = setEnv(env, word(key), word(value));
        return { ...config, Env: env };
      }
      case 'LABEL': {
        const labels = { ...(config.Labels ?? {}) };
        for (const { key, value } of instruction.pairs) labels[word(key)] = word(value);
        return { ...config, Labels: labels };
      }
      case 'EXPOSE': {
        const ports = { ...(config.ExposedPorts ?? {}) };
        for (const v of instruction.values) {
          for (const w of expandWords(v, vars, lex)) for (const p of parseExposedPorts(w)) ports[p] = {};
        }
        return { ...config, ExposedPorts: ports };
      }
      case 'VOLUME': {
        const volumes = { ...(config.Volumes ?? {}) };
        for (const v of instruction.values) {
          const path = word(v).trim();
          if (path === '') throw new Error('VOLUME specified can not be an empty string');
          volumes[path] = {};
        }
        return { ...config, Volumes: volumes };
      }
      case 'USER':
        return { ...config, User: word(instruction.value) };
      case 'WORKDIR':
        return { ...config, WorkingDir: resolveWorkdir(config.WorkingDir || '/', word(instruction.value)) };
      case 'STOPSIGNAL': {
        const signal = word(instruction.value);
        validateSignal(signal);
        return { ...config, StopSignal: signal };
      }
      case 'CMD':
        return { ...config, Cmd: commandLine(config, instruction.command, instruction.prependShell) };
      case 'ENTRYPOINT': {
        const next: ImageRunConfig = {
          ...config,
          Entrypoint: commandLine(config, instruction.command, instruction.prependShell),
        };
        if (!options.cmdSet) next.Cmd = null;
        return next;
      }
      case 'HEALTHCHECK': {
        const hc: NonNullable<ImageRunConfig['Healthcheck']> = { Test: instruction.test };
        if (instruction.interval) hc.Interval = instruction.interval;
        if (instruction.timeout) hc.Timeout = instruction.timeout;
        if (instruction.startPeriod) hc.StartPeriod = instruction.startPeriod;
        if (instruction.startInterval) hc.StartInterval = instruction.startInterval;
        if (instruction.retries) hc.Retries = instruction.retries;
        return { ...config, Healthcheck: hc };
      }
      case 'SHELL':
        return { ...config, Shell: [...instruction.shell] };
      case 'ONBUILD':
        return { ...config, OnBuild: [...(config.OnBuild ?? []), instruction.expression] };
      default:
        return config;
    }
  } catch (e) {
    if (e instanceof DockerfileParseError) throw e;
    throw new DockerfileParseError((e as Error).message, instruction.line);
  }
}

// ---------------------------------------------------------------- history strings

/** Go's strconv.Quote. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\x07') out += '\\a';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) out += ch;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

/** Go's `%q` of a []string: `["a" "b"]`. */
export const goQuoteList = (list: readonly string[]): string => `[${list.map(goQuote).join(' ')}]`;

/** Go's time.Duration.String(). */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trimFloat(n / 1e3)}µs`;
  else if (n < 1e9) out = `${trimFloat(n / 1e6)}ms`;
  else {
    const h = Math.floor(n / 3600e9);
    n -= h * 3600e9;
    const m = Math.floor(n / 60e9);
    n -= m * 60e9;
    const s = `${trimFloat(n / 1e9)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

const trimFloat = (x: number): string => String(Number(x.toFixed(9)));

/**
 * The `created_by` text Docker's classic builder writes for an instruction that only changes
 * metadata: `/bin/sh -c #(nop)  CMD ["sh"]` (note the two spaces), computed from the config
 * after the instruction.
 */
export function metadataComment(
  instruction: Instruction,
  after: ImageRunConfig,
  vars: ShellEnv,
  escapeToken = '\\',
): string {
  const word = (s: string) => expandWord(s, vars, { escapeToken });
  switch (instruction.kind) {
    case 'ENV':
    case 'LABEL':
      return `${instruction.kind} ${instruction.pairs.map((p) => `${word(p.key)}=${word(p.value)}`).join(' ')}`;
    case 'EXPOSE':
      return `EXPOSE ${instruction.values.flatMap((v) => expandWords(v, vars, { escapeToken })).join(' ')}`;
    case 'VOLUME':
      return `VOLUME [${instruction.values.map((v) => word(v).trim()).join(' ')}]`;
    case 'USER':
      return `USER ${after.User ?? ''}`;
    case 'STOPSIGNAL':
      return `STOPSIGNAL ${after.StopSignal ?? ''}`;
    case 'MAINTAINER':
      return `MAINTAINER ${instruction.value}`;
    case 'CMD':
      return `CMD ${goQuoteList(after.Cmd ?? [])}`;
    case 'ENTRYPOINT':
      return `ENTRYPOINT ${goQuoteList(after.Entrypoint ?? [])}`;
    case 'SHELL':
      return `SHELL [${instruction.shell.join(' ')}]`;
    case 'ONBUILD':
      return `ONBUILD ${instruction.expression}`;
    case 'ARG':
      return `ARG ${instruction.args.map((a) => (a.value === undefined ? a.key : `${a.key}=${word(a.value)}`)).join(' ')}`;
    case 'WORKDIR':
      return `WORKDIR ${after.WorkingDir ?? '/'}`;
    case 'HEALTHCHECK': {
      const hc = after.Healthcheck ?? {};
      const retries = hc.Retries ?? 0;
      const fields = [
        goQuoteList(hc.Test ?? []),
        goQuote(goDuration(hc.Interval ?? 0)),
        goQuote(goDuration(hc.Timeout ?? 0)),
        goQuote(goDuration(hc.StartPeriod ?? 0)),
        goQuote(goDuration(hc.StartInterval ?? 0)),
        `'\\x${retries.toString(16).padStart(2, '0')}'`,
      ];
      return `HEALTHCHECK &{${fields.join(' ')}}`;
    }
    default:
      return instruction.original;
  }
}

/**
 * `created_by` for a metadata step. WORKDIR, COPY and ADD use one space after `#(nop)`, the
 * others two, as the classic builder writes them.
 */
export function nopCreatedBy(config: ImageRunConfig, comment: string, kind: Instruction['kind']): string {
  const oneSpace = kind === 'WORKDIR' || kind === 'COPY' || kind === 'ADD';
  return [
    ...shellOf(config),
    oneSpace ? `#(nop) ${comment}` : '#(nop) ',
    ...(oneSpace ? [] : [comment]),
  ].join(' ');
}

/** `created_by` for RUN: `|2 A=1 B=2 /bin/sh -c make` when build args are in effect. */
export function runCreatedBy(argv: readonly string[], buildArgs: readonly string[] | undefined): string {
  if (!buildArgs || buildArgs.length === 0) return argv.join(' ');
  const sorted = [...buildArgs].sort();
  return [`|${sorted.length}`, ...sorted, ...argv].join(' ');
}

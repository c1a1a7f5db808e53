import { parseGoDuration } from '@ts-container/common';
import { DockerfileParseError } from './errors.js';
import type {
  ArgInstruction,
  Base,
  CopyInstruction,
  FromInstruction,
  HealthcheckInstruction,
  Instruction,
  KeyValue,
  RunInstruction,
  StringInstruction,
} from './instruction-types.js';
import type { DockerfileNode, ParsedDockerfile } from './parser.js';

export type * from './instruction-types.js';

/**
 * The instruction layer: typed instructions from the syntax tree, with the checks Docker applies
 * before building (argument counts, known flags, FROM/ONBUILD rules). Values are kept as written;
 * variable substitution happens at build time, when the environment is known.
 */

const INSTRUCTION_NAMES = [
  'add',
  'arg',
  'cmd',
  'copy',
  'entrypoint',
  'env',
  'expose',
  'from',
  'healthcheck',
  'label',
  'maintainer',
  'onbuild',
  'run',
  'shell',
  'stopsignal',
  'user',
  'volume',
  'workdir',
];

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest instruction name for a misspelt keyword, BuildKit's "did you mean" hint. */
export function suggestInstruction(keyword: string): string | undefined {
  const lower = keyword.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of INSTRUCTION_NAMES) {
    const d = levenshtein(lower, name);
    if (d < bestDistance) {
      bestDistance = d;
      best = name;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(lower.length / 3)) ? best : undefined;
}

type FlagType = 'string' | 'bool' | 'strings';
type FlagValues = Map<string, string | boolean | string[]>;

function parseFlags(node: DockerfileNode, spec: Record<string, FlagType>): FlagValues {
  const values: FlagValues = new Map();
  for (const raw of node.flags) {
    const body = raw.startsWith('--') ? raw.slice(2) : raw;
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const type = spec[name];
    if (type === undefined) throw new Error(`unknown flag: --${name}`);
    if (type === 'strings') {
      if (value === undefined) throw new Error(`missing a value on flag: --${name}`);
      const list = (values.get(name) as string[] | undefined) ?? [];
      list.push(value);
      values.set(name, list);
      continue;
    }
    if (values.has(name)) throw new Error(`duplicate flag specified: --${name}`);
    if (type === 'bool') {
      if (value === undefined || value.toLowerCase() === 'true') values.set(name, true);
      else if (value.toLowerCase() === 'false') values.set(name, false);
      else throw new Error(`expecting boolean value for flag ${name}, not: ${value}`);
    } else {
      if (value === undefined) throw new Error(`missing a value on flag: --${name}`);
      values.set(name, value);
    }
  }
  return values;
}

const str = (f: FlagValues, name: string): string | undefined => f.get(name) as string | undefined;

function durationFlag(f: FlagValues, name: string): number {
  const raw = str(f, name);
  if (raw === undefined) return 0;
  const ns = parseGoDuration(raw);
  if (ns === 0) return 0;
  if (ns < 1e6) throw new Error(`Interval "${name}" cannot be less than 1ms`);
  return ns;
}

function base(node: DockerfileNode): Base {
  return { line: node.startLine, endLine: node.endLine, original: node.original.trim() };
}

const atLeastOne = (cmd: string) => new Error(`${cmd} requires at least one argument`);
const exactlyOne = (cmd: string) => new Error(`${cmd} requires exactly one argument`);

function keyValues(node: DockerfileNode, cmd: string): KeyValue[] {
  if (node.args.length === 0) throw atLeastOne(cmd);
  const pairs: KeyValue[] = [];
  for (let i = 0; i + 1 < node.args.length; i += 3) {
    const key = node.args[i]!;
    if (key === '') throw new Error(`${cmd} names can not be blank`);
    pairs.push({ key, value: node.args[i + 1]! });
  }
  return pairs;
}

const VALID_STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function build(node: DockerfileNode): Instruction {
  const b = base(node);
  const cmd = node.instruction.toUpperCase();
  const noFlags = () => parseFlags(node, {});
  switch (node.instruction) {
    case 'from': {
      const f = parseFlags(node, { platform: 'string' });
      let stageName: string | undefined;
      if (node.args.length === 3 && node.args[1]!.toLowerCase() === 'as') {
        stageName = node.args[2]!.toLowerCase();
        if (!VALID_STAGE_NAME.test(stageName)) {
          throw new Error(
            `invalid name for build stage: "${node.args[2]}", name can't start with a number or contain symbols`,
          );
        }
      } else if (node.args.length !== 1) {
        throw new Error('FROM requires either one or three arguments');
      }
      const out: FromInstruction = { ...b, kind: 'FROM', image: node.args[0]! };
      if (stageName !== undefined) out.stageName = stageName;
      const platform = str(f, 'platform');
      if (platform !== undefined) out.platform = platform;
      return out;
    }
    case 'run': {
      const f = parseFlags(node, {
        mount: 'strings',
        network: 'string',
        security: 'string',
        device: 'strings',
      });
      const out: RunInstruction = {
        ...b,
        kind: 'RUN',
        command: node.args,
        prependShell: !node.json,
        heredocs: node.heredocs,
        mounts: (f.get('mount') as string[] | undefined) ?? [],
      };
      const network = str(f, 'network');
      if (network !== undefined) out.network = network;
      const security = str(f, 'security');
      if (security !== undefined) out.security = security;
      return out;
    }
    case 'cmd':
    case 'entrypoint':
      noFlags();
      return { ...b, kind: cmd as 'CMD' | 'ENTRYPOINT', command: node.args, prependShell: !node.json };
    case 'shell':
      noFlags();
      if (node.args.length === 0) throw atLeastOne(cmd);
      if (!node.json) throw new Error('SHELL requires the arguments to be in JSON form');
      return { ...b, kind: 'SHELL', shell: node.args };
    case 'env':
    case 'label':
      noFlags();
      return { ...b, kind: cmd as 'ENV' | 'LABEL', pairs: keyValues(node, cmd) };
    case 'arg': {
      noFlags();
      if (node.args.length === 0) throw atLeastOne(cmd);
      const args = node.args.map((word) => {
        const eq = word.indexOf('=');
        const key = eq < 0 ? word : word.slice(0, eq);
        if (key === '') throw new Error('ARG names can not be blank');
        return eq < 0 ? { key } : { key, value: word.slice(eq + 1) };
      });
      return { ...b, kind: 'ARG', args };
    }
    case 'expose':
    case 'volume': {
      noFlags();
      if (node.args.length === 0) throw atLeastOne(cmd);
      if (cmd === 'VOLUME' && node.args.some((v) => v.trim() === '')) {
        throw new Error('VOLUME specified can not be an empty string');
      }
      return { ...b, kind: cmd as 'EXPOSE' | 'VOLUME', values: node.args };
    }
    case 'user':
    case 'workdir':
    case 'stopsignal':
    case 'maintainer':
      noFlags();
      if (node.args.length !== 1) throw exactlyOne(cmd);
      return { ...b, kind: cmd as StringInstruction['kind'], value: node.args[0]! };
    case 'copy':
    case 'add': {
      const f = parseFlags(
        node,
        cmd === 'COPY'
          ? {
              from: 'string',
              chown: 'string',
              chmod: 'string',
              link: 'bool',
              parents: 'bool',
              exclude: 'strings',
            }
          : {
              chown: 'string',
              chmod: 'string',
              link: 'bool',
              'keep-git-dir': 'bool',
              checksum: 'string',
              exclude: 'strings',
              unpack: 'bool',
            },
      );
      if (node.args.length === 0) throw new Error(`${cmd} requires at least two arguments`);
      const isHeredocArg = (a: string) => node.heredocs.length > 0 && /^\d*<<-?/.test(a);
      const dest = node.args[node.args.length - 1]!;
      if (isHeredocArg(dest)) throw new Error(`${cmd} cannot accept a heredoc as a destination`);
      if (node.args.length === 1) {
        throw new Error(
          `${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`,
        );
      }
      const chmod = str(f, 'chmod');
      if (chmod !== undefined && !/^[0-7]{1,4}$/.test(chmod) && !chmod.includes('$')) {
        throw new Error(`invalid chmod parameter: ${chmod}`);
      }
      const out: CopyInstruction = {
        ...b,
        kind: cmd as 'COPY' | 'ADD',
        sources: node.args.slice(0, -1),
        heredocs: node.heredocs,
        dest,
        link: (f.get('link') as boolean | undefined) ?? false,
        parents: (f.get('parents') as boolean | undefined) ?? false,
        exclude: (f.get('exclude') as string[] | undefined) ?? [],
      };
      const from = str(f, 'from');
      if (from !== undefined) {
        if (from === '') throw new Error('invalid from flag value: empty');
        out.from = from;
      }
      const chown = str(f, 'chown');
      if (chown !== undefined) out.chown = chown;
      if (chmod !== undefined) out.chmod = chmod;
      const keep = f.get('keep-git-dir');
      if (keep !== undefined) out.keepGitDir = keep as boolean;
      const checksum = str(f, 'checksum');
      if (checksum !== undefined) out.checksum = checksum;
      return out;
    }
    case 'onbuild': {
      noFlags();
      if (!node.sub) throw atLeastOne(cmd);
      const triggerName = node.sub.instruction.toUpperCase();
      if (triggerName === 'ONBUILD') throw new Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (triggerName === 'FROM' || triggerName === 'MAINTAINER') {
        throw new Error(`${triggerName} isn't allowed as an ONBUILD trigger`);
      }
      const trigger = build({
        ...node.sub,
        startLine: node.startLine,
        endLine: node.endLine,
        heredocs: node.heredocs,
      });
      const expression = node.original.trim().replace(/^ONBUILD\s*/i, '');
      return { ...b, kind: 'ONBUILD', expression, trigger };
    }
    case 'healthcheck': {
      if (node.args.length === 0) throw atLeastOne(cmd);
      const type = node.args[0]!.toUpperCase();
      const empty = { interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
      if (type === 'NONE') {
        noFlags();
        if (node.args.length !== 1) throw new Error('HEALTHCHECK NONE takes no arguments');
        return { ...b, kind: 'HEALTHCHECK', test: ['NONE'], ...empty };
      }
      if (type !== 'CMD') throw new Error(`Unknown type "${type}" in HEALTHCHECK (try CMD)`);
      const f = parseFlags(node, {
        interval: 'string',
        timeout: 'string',
        'start-period': 'string',
        'start-interval': 'string',
        retries: 'string',
      });
      const command = node.args.slice(1);
      if (command.length === 0) throw new Error('Missing command after HEALTHCHECK CMD');
      let retries = 0;
      const r = str(f, 'retries');
      if (r !== undefined) {
        if (!/^-?\d+$/.test(r)) throw new Error(`strconv.ParseInt: parsing "${r}": invalid syntax`);
        retries = Number(r);
        if (retries < 0) throw new Error(`--retries cannot be negative (${retries})`);
      }
      return {
        ...b,
        kind: 'HEALTHCHECK',
        test: node.json ? ['CMD', ...command] : ['CMD-SHELL', command[0]!],
        interval: durationFlag(f, 'interval'),
        timeout: durationFlag(f, 'timeout'),
        startPeriod: durationFlag(f, 'start-period'),
        startInterval: durationFlag(f, 'start-interval'),
        retries,
      };
    }
    default: {
      const hint = suggestInstruction(node.keyword);
      throw new Error(`unknown instruction: ${node.keyword}${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
  }
}

/** One syntax-tree node → a typed instruction; errors carry the node's line. */
export function parseInstruction(node: DockerfileNode): Instruction {
  try {
    return build(node);
  } catch (e) {
    if (e instanceof DockerfileParseError) throw e;
    throw new DockerfileParseError((e as Error).message, node.startLine);
  }
}

/** Every node of a parsed Dockerfile → typed instructions, in order. */
export function parseInstructions(parsed: ParsedDockerfile): Instruction[] {
  return parsed.nodes.map(parseInstruction);
}

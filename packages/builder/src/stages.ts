import { hostPlatformString } from '@ts-container/common';
import { DockerfileParseError } from './errors.js';
import {
  type ArgInstruction,
  type FromInstruction,
  type Instruction,
  parseInstructions,
} from './instructions.js';
import type { ParsedDockerfile } from './parser.js';
import { expandWord } from './shell.js';

/**
 * Multi-stage structure and build planning: which stages a target needs, in which order, what
 * each stage's base is (another stage, an image, or scratch), and which build args go unused.
 */

export interface Stage {
  /** 0-based position in the Dockerfile. */
  index: number;
  /** Lower-cased `AS` name. */
  name?: string;
  from: FromInstruction;
  /** The instructions after FROM. */
  instructions: Instruction[];
}

export interface DockerfileStages {
  /** ARGs before the first FROM: usable in FROM lines, and in stages that redeclare them. */
  metaArgs: ArgInstruction[];
  stages: Stage[];
  escapeToken: string;
}

/** Splits a Dockerfile's instructions into global ARGs and stages; validates the structure. */
export function parseStages(parsed: ParsedDockerfile): DockerfileStages {
  const instructions = parseInstructions(parsed);
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const inst of instructions) {
    if (inst.kind === 'FROM') {
      const stage: Stage = { index: stages.length, from: inst, instructions: [] };
      if (inst.stageName !== undefined) {
        if (names.has(inst.stageName)) {
          throw new DockerfileParseError(`duplicate stage name "${inst.stageName}"`, inst.line);
        }
        names.add(inst.stageName);
        stage.name = inst.stageName;
      }
      stages.push(stage);
      continue;
    }
    const current = stages[stages.length - 1];
    if (current) current.instructions.push(inst);
    else if (inst.kind === 'ARG') metaArgs.push(inst);
    else throw new DockerfileParseError('no build stage in current context', inst.line);
  }
  if (stages.length === 0) throw new DockerfileParseError('dockerfile contains no stages to build');
  return { metaArgs, stages, escapeToken: parsed.escapeToken };
}

/** Build args Docker accepts without an ARG instruction, and keeps out of the image history. */
export const BUILTIN_BUILD_ARGS: readonly string[] = [
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
];

export type StageBase =
  | { kind: 'scratch' }
  | { kind: 'stage'; index: number }
  | { kind: 'image'; ref: string; platform?: string };

export type CopySourceRef = { kind: 'stage'; index: number } | { kind: 'image'; ref: string };

export interface PlannedStage extends Stage {
  base: StageBase;
  /** Stages this one needs first (its base stage and COPY --from stages). */
  dependsOn: number[];
}

export interface BuildPlanOptions {
  /** Stage name (or index) to stop at; default the last stage. */
  target?: string;
  buildArgs?: Readonly<Record<string, string | undefined>>;
  /** The target platform (`linux/arm64/v8`); default this host's. */
  platform?: string;
}

/**
 * The platform ARGs BuildKit defines automatically (TARGETPLATFORM, BUILDARCH, ...). They can be
 * used in FROM lines and, once declared with `ARG NAME`, inside a stage.
 */
export function automaticPlatformArgs(target: string, build = hostPlatformString()): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [prefix, value] of [
    ['TARGET', target],
    ['BUILD', build],
  ] as const) {
    const [os = 'linux', arch = '', variant = ''] = value.split('/');
    out[`${prefix}PLATFORM`] = value;
    out[`${prefix}OS`] = os;
    out[`${prefix}ARCH`] = arch;
    out[`${prefix}VARIANT`] = variant;
  }
  return out;
}

export interface BuildPlan {
  metaArgs: ArgInstruction[];
  /** Global ARG values after build-arg overrides (undefined = declared without value). */
  metaArgValues: Map<string, string | undefined>;
  /** Every stage of the file, with its resolved base. */
  allStages: PlannedStage[];
  /** The stages the target needs, in file order (dependencies first, the target last). */
  order: PlannedStage[];
  target: PlannedStage;
  /** Build args that no built stage declares (Docker's "were not consumed" warning). */
  unusedBuildArgs: string[];
  /** TARGETPLATFORM, TARGETARCH, BUILDPLATFORM, ... for this build. */
  automaticArgs: Record<string, string>;
  escapeToken: string;
}

/** `COPY --from=value` → a stage (by name or index) or an image; `current` is the copying stage. */
export function resolveCopyFrom(
  value: string,
  current: number,
  stages: readonly Stage[],
  line: number,
): CopySourceRef {
  if (/^\d+$/.test(value)) {
    const index = Number(value);
    if (index >= current) {
      throw new DockerfileParseError(
        `invalid from flag value ${value}: refers to current or later build stage`,
        line,
      );
    }
    return { kind: 'stage', index };
  }
  const lower = value.toLowerCase();
  const stage = stages.find((s) => s.name === lower);
  if (stage) {
    if (stage.index === current)
      throw new DockerfileParseError(`circular dependency detected on stage: ${lower}`, line);
    // A later stage's name is an image reference for Docker, which would be surprising.
    if (stage.index > current) {
      throw new DockerfileParseError(
        `invalid from flag value ${value}: stage is defined later in the Dockerfile`,
        line,
      );
    }
    return { kind: 'stage', index: stage.index };
  }
  return { kind: 'image', ref: value };
}

/** The warning Docker prints for build args nothing declared. */
export function unusedBuildArgsWarning(names: readonly string[]): string {
  return `[Warning] One or more build-args [${names.join(' ')}] were not consumed`;
}

export function planBuild(
  parsed: ParsedDockerfile | DockerfileStages,
  options: BuildPlanOptions = {},
): BuildPlan {
  const file = 'nodes' in parsed ? parseStages(parsed) : parsed;
  const buildArgs = options.buildArgs ?? {};
  const lex = { escapeToken: file.escapeToken };

  const automaticArgs = automaticPlatformArgs(options.platform || hostPlatformString());
  const metaArgValues = new Map<string, string | undefined>();
  for (const inst of file.metaArgs) {
    for (const arg of inst.args) {
      const env = { ...automaticArgs, ...definedVars(metaArgValues) };
      let value =
        arg.value === undefined ? automaticArgs[arg.key] : expandOrThrow(arg.value, env, lex, inst.line);
      if (Object.hasOwn(buildArgs, arg.key) && buildArgs[arg.key] !== undefined) value = buildArgs[arg.key];
      metaArgValues.set(arg.key, value);
    }
  }
  const metaEnv = { ...automaticArgs, ...definedVars(metaArgValues) };

  const allStages: PlannedStage[] = file.stages.map((stage) => {
    const image = expandOrThrow(stage.from.image, metaEnv, lex, stage.from.line);
    if (image.trim() === '') {
      throw new DockerfileParseError(`base name (${stage.from.image}) should not be blank`, stage.from.line);
    }
    const dependsOn = new Set<number>();
    let base: StageBase;
    const lower = image.toLowerCase();
    const baseStage = file.stages.find((s) => s.name === lower && s.index < stage.index);
    if (baseStage) {
      base = { kind: 'stage', index: baseStage.index };
      dependsOn.add(baseStage.index);
    } else if (lower === 'scratch') base = { kind: 'scratch' };
    else {
      base = { kind: 'image', ref: image };
      const platform =
        stage.from.platform === undefined
          ? ''
          : expandOrThrow(stage.from.platform, metaEnv, lex, stage.from.line);
      if (platform !== '') base.platform = platform;
      else if (options.platform) base.platform = options.platform;
    }
    for (const inst of stage.instructions) {
      const copy = inst.kind === 'ONBUILD' ? undefined : inst;
      if (copy && (copy.kind === 'COPY' || copy.kind === 'ADD') && copy.from !== undefined) {
        const value = expandOrThrow(copy.from, metaEnv, lex, copy.line);
        const ref = resolveCopyFrom(value, stage.index, file.stages, copy.line);
        if (ref.kind === 'stage') dependsOn.add(ref.index);
      }
    }
    return { ...stage, base, dependsOn: [...dependsOn].sort((a, b) => a - b) };
  });

  let target = allStages[allStages.length - 1]!;
  if (options.target !== undefined && options.target !== '') {
    const wanted = options.target.toLowerCase();
    const found =
      allStages.find((s) => s.name === wanted) ??
      (/^\d+$/.test(wanted) ? allStages[Number(wanted)] : undefined);
    if (!found)
      throw new DockerfileParseError(`failed to reach build target ${options.target} in Dockerfile`);
    target = found;
  }

  // Only the stages the target needs (its base and COPY --from stages, transitively), as
  // BuildKit builds them; the classic builder would also build the unused ones.
  const needed = new Set<number>();
  const need = (index: number): void => {
    if (needed.has(index)) return;
    needed.add(index);
    for (const d of allStages[index]!.dependsOn) need(d);
  };
  need(target.index);
  const order = allStages.filter((s) => needed.has(s.index));

  const consumed = new Set<string>([
    ...metaArgValues.keys(),
    ...BUILTIN_BUILD_ARGS,
    ...Object.keys(automaticArgs),
  ]);
  for (const stage of order) {
    for (const inst of stage.instructions)
      if (inst.kind === 'ARG') for (const a of inst.args) consumed.add(a.key);
  }
  const unusedBuildArgs = Object.keys(buildArgs)
    .filter((k) => !consumed.has(k))
    .sort();

  return {
    metaArgs: file.metaArgs,
    metaArgValues,
    allStages,
    order,
    target,
    unusedBuildArgs,
    automaticArgs,
    escapeToken: file.escapeToken,
  };
}

function definedVars(values: Map<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of values) if (v !== undefined) out[k] = v;
  return out;
}

function expandOrThrow(
  text: string,
  env: Record<string, string>,
  lex: { escapeToken: string },
  line: number,
): string {
  try {
    return expandWord(text, env, lex);
  } catch (e) {
    throw new DockerfileParseError((e as Error).message, line);
  }
}

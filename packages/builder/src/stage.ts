import type { HistoryEntry, ImageRunConfig } from '@ts-container/image';
import type {
  BaseImage,
  BuildBackend,
  BuildOptions,
  CommitStep,
  ProgressListener,
  RunStep,
  StepResult,
} from './backend.js';
import { cacheKeyOf, shortId } from './cache-key.js';
import {
  applyInstructionToConfig,
  commandLine,
  metadataComment,
  nopCreatedBy,
  runCreatedBy,
} from './config.js';
import type { BuildContext } from './context.js';
import { copyStep } from './copy-step.js';
import { BuildError, DockerfileParseError } from './errors.js';
import { type Instruction, type RunInstruction, parseInstruction } from './instructions.js';
import { parseDockerfile } from './parser.js';
import { expandWord } from './shell.js';
import { BUILTIN_BUILD_ARGS, type BuildPlan, type PlannedStage } from './stages.js';

/**
 * One stage of a build: its state (image, config, ARGs) and its steps. Each step's cache key
 * is made from content alone — the instruction, the parent image, the config, and for COPY/ADD
 * the checksums of the files it reads — so a fully cached stage does no work but lookups.
 */

/** A stage stopped because another stage of the build failed (that failure is the build's error). */
export class StageAborted extends BuildError {}

/** What every stage of one build shares. */
export interface BuildSession {
  plan: BuildPlan;
  options: BuildOptions;
  backend: BuildBackend;
  context: BuildContext | undefined;
  buildArgs: Readonly<Record<string, string | undefined>>;
  now: () => Date;
  /** A stage's result, once that stage is built. */
  stageResult(index: number): Promise<StageResult>;
  /** An external image (resolved once per build). */
  external(ref: string, platform?: string): Promise<BaseImage>;
  /** Set when another stage failed: stop at the next step. */
  aborted(): boolean;
}

export interface StageResult {
  imageId: string;
  config: ImageRunConfig;
}

export interface StageState {
  imageId: string | null;
  config: ImageRunConfig;
  author?: string;
  /** Declared ARGs and their values in this stage. */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
}

/** Quotes a literal for the word expander: `'it'\''s'` stays `it's`, `$` stays literal. */
const singleQuote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

export class StageBuilder {
  readonly state: StageState = { imageId: null, config: {}, args: new Map(), cmdSet: false };
  private readonly say: (line: string) => void;

  constructor(
    readonly session: BuildSession,
    readonly stage: PlannedStage,
    /** This stage's progress (whole lines and RUN output). */
    readonly progress: ProgressListener,
    /** The step number of this stage's FROM line. */
    private stepNo: number,
    private readonly total: number,
  ) {
    this.say = (line) => progress(`${line}\n`);
  }

  /** Builds the stage: FROM, ONBUILD triggers of the base, the instructions, `--label`s on the target. */
  async run(): Promise<StageResult> {
    const { stage, state, session } = this;
    this.step(stage.from.original);
    await this.start();
    this.say(` ---> ${shortId(state.imageId)}`);
    const triggers = state.config.OnBuild ?? [];
    if (triggers.length > 0) {
      this.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}`);
      state.config = { ...state.config, OnBuild: [] };
      for (const expression of triggers) {
        const node = parseDockerfile(expression).nodes[0]!;
        await this.execute(
          parseInstruction({ ...node, startLine: stage.from.line, endLine: stage.from.line }),
        );
      }
    }
    for (const inst of stage.instructions) {
      if (session.aborted()) throw new StageAborted('build aborted: another stage failed');
      this.step(inst.original);
      await this.execute(inst);
    }
    const labels = session.options.labels;
    if (stage === session.plan.target && labels && Object.keys(labels).length > 0) {
      await this.metadataStep({
        kind: 'LABEL',
        line: 0,
        endLine: 0,
        original: 'LABEL',
        pairs: Object.entries(labels).map(([key, value]) => ({
          key: singleQuote(key),
          value: singleQuote(value),
        })),
      });
    }
    if (state.imageId === null) throw new BuildError('No image was generated. Is your Dockerfile empty?');
    return { imageId: state.imageId, config: state.config };
  }

  private step(original: string): void {
    this.say(`Step ${this.stepNo++}/${this.total} : ${original}`);
  }

  private async start(): Promise<void> {
    const base = this.stage.base;
    if (base.kind === 'scratch') return;
    const from =
      base.kind === 'stage'
        ? await this.session.stageResult(base.index)
        : await this.session.external(base.ref, base.platform);
    this.state.imageId = from.imageId;
    this.state.config = structuredClone(from.config ?? {});
  }

  /** ARG values overridden by ENV: what `$VAR` sees in this stage. */
  varsOf(): Record<string, string> {
    const vars: Record<string, string> = {};
    for (const [k, v] of this.state.args) if (v !== undefined) vars[k] = v;
    for (const kv of this.state.config.Env ?? []) {
      const eq = kv.indexOf('=');
      vars[eq < 0 ? kv : kv.slice(0, eq)] = eq < 0 ? '' : kv.slice(eq + 1);
    }
    return vars;
  }

  /** Build args in effect for RUN: declared, valued, not shadowed by ENV (`KEY=value`). */
  private runArgs(): { all: string[]; history: string[] } {
    const { state } = this;
    const envKeys = new Set((state.config.Env ?? []).map((kv) => kv.split('=', 1)[0]));
    const all: string[] = [];
    const history: string[] = [];
    for (const [k, v] of state.args) {
      if (v === undefined || envKeys.has(k)) continue;
      all.push(`${k}=${v}`);
      history.push(`${k}=${v}`);
    }
    // Proxy settings reach RUN without an ARG, but stay out of the image history.
    for (const k of BUILTIN_BUILD_ARGS) {
      const v = this.session.buildArgs[k];
      if (v !== undefined && !state.args.has(k) && !envKeys.has(k)) all.push(`${k}=${v}`);
    }
    return { all, history };
  }

  historyEntry(createdBy: string, emptyLayer: boolean): HistoryEntry {
    const h: HistoryEntry = { created: this.session.now().toISOString(), created_by: createdBy };
    if (emptyLayer) h.empty_layer = true;
    return h;
  }

  word(text: string, line: number): string {
    try {
      return expandWord(text, this.varsOf(), { escapeToken: this.session.plan.escapeToken });
    } catch (e) {
      throw new DockerfileParseError((e as Error).message, line);
    }
  }

  /** The cache hit for `key` on this stage's image, announced as the classic builder does; sets the state. */
  async cached(key: string): Promise<boolean> {
    if (this.session.options.noCache) return false;
    const hit = await this.session.backend.lookupCache(this.state.imageId, key);
    if (!hit) return false;
    this.say(' ---> Using cache');
    this.say(` ---> ${shortId(hit)}`);
    this.state.imageId = hit;
    return true;
  }

  finish(result: StepResult): void {
    if (result.containerId && result.containerRemoved)
      this.say(`Removing intermediate container ${shortId(result.containerId)}`);
    this.say(` ---> ${shortId(result.imageId)}`);
    this.state.imageId = result.imageId;
  }

  private async execute(inst: Instruction): Promise<void> {
    const { plan, buildArgs } = this.session;
    switch (inst.kind) {
      case 'RUN':
        return this.runStep(inst);
      case 'COPY':
      case 'ADD':
        return copyStep(this, inst);
      case 'ARG':
        for (const a of inst.args) {
          let value = a.value === undefined ? undefined : this.word(a.value, inst.line);
          if (value === undefined && plan.metaArgValues.has(a.key)) value = plan.metaArgValues.get(a.key);
          if (value === undefined) value = plan.automaticArgs[a.key];
          const override = buildArgs[a.key];
          if (override !== undefined) value = override;
          this.state.args.set(a.key, value);
        }
        return this.metadataStep(inst);
      case 'FROM':
        throw new DockerfileParseError('FROM cannot be used here', inst.line);
      default:
        return this.metadataStep(inst);
    }
  }

  /** A step that changes only the config: an image without a new layer, and no container. */
  private async metadataStep(inst: Instruction): Promise<void> {
    const { state } = this;
    const escapeToken = this.session.plan.escapeToken;
    const vars = this.varsOf();
    const after = applyInstructionToConfig(state.config, inst, vars, { escapeToken, cmdSet: state.cmdSet });
    if (inst.kind === 'CMD') state.cmdSet = true;
    if (inst.kind === 'MAINTAINER') state.author = inst.value;
    let comment: string;
    try {
      comment = metadataComment(inst, after, vars, escapeToken);
    } catch (e) {
      throw new DockerfileParseError((e as Error).message, inst.line);
    }
    const createdBy = nopCreatedBy(after, comment, inst.kind);
    state.config = after;
    const key = cacheKeyOf({ createdBy, config: after, author: state.author ?? null });
    if (await this.cached(key)) return;
    const commit: CommitStep = {
      parentImageId: state.imageId,
      config: after,
      history: this.historyEntry(createdBy, true),
      cacheKey: key,
    };
    if (state.author !== undefined) commit.author = state.author;
    if (inst.kind === 'WORKDIR' && after.WorkingDir) commit.ensureDirectory = after.WorkingDir;
    this.finish(await this.session.backend.commit(commit));
  }

  private async runStep(inst: RunInstruction): Promise<void> {
    const { state } = this;
    let command = inst.command;
    if (inst.heredocs.length > 0) {
      const simple = inst.heredocs.length === 1 && /^\d*<<-?\S+$/.test(command.join(' ').trim());
      const h = inst.heredocs[0]!;
      if (simple && h.content.startsWith('#!')) {
        throw new DockerfileParseError(
          'RUN with a heredoc script that has a #! line is not supported yet',
          inst.line,
        );
      }
      // `RUN <<EOF` alone: the body is the script. Otherwise the shell gets the command with its
      // heredoc bodies and handles `<<`, `<<-` and quoting itself.
      command = simple
        ? [h.chomp ? h.content.replace(/^\t+/gm, '') : h.content]
        : [`${command.join(' ')}\n${inst.heredocs.map((d) => `${d.content}${d.name}\n`).join('')}`];
    }
    const argv = commandLine(state.config, command, inst.prependShell);
    const { all, history } = this.runArgs();
    const createdBy = runCreatedBy(argv, history.length > 0 ? history : undefined);
    const env = [...(state.config.Env ?? []), ...all];
    const key = cacheKeyOf({
      createdBy,
      config: state.config,
      env,
      mounts: inst.mounts,
      network: inst.network ?? null,
    });
    if (await this.cached(key)) return;
    const step: RunStep = {
      parentImageId: state.imageId,
      config: state.config,
      history: this.historyEntry(createdBy, false),
      cacheKey: key,
      argv,
      env,
      user: state.config.User ?? '',
      workingDir: state.config.WorkingDir || '/',
      mounts: inst.mounts,
      onOutput: (chunk, stream) => this.progress(chunk, stream),
    };
    if (inst.network !== undefined) step.network = inst.network;
    if (state.author !== undefined) step.author = state.author;
    let announced = false;
    step.onStarted = (containerId) => {
      if (announced) return;
      announced = true;
      this.say(` ---> Running in ${shortId(containerId)}`);
    };
    const result = await this.session.backend.run(step);
    if (result.containerId && !announced) this.say(` ---> Running in ${shortId(result.containerId)}`);
    if (result.exitCode !== 0 || !result.imageId) {
      // `--force-rm` removes the failed step's container too, and says so before the error.
      if (result.containerId && result.containerRemoved)
        this.say(`Removing intermediate container ${shortId(result.containerId)}`);
      throw new BuildError(
        `The command '${argv.join(' ')}' returned a non-zero code: ${result.exitCode}`,
        result.exitCode,
      );
    }
    this.finish({
      imageId: result.imageId,
      ...(result.containerId ? { containerId: result.containerId } : {}),
      ...(result.containerRemoved ? { containerRemoved: true } : {}),
    });
  }
}

import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { HistoryEntry, ImageRunConfig } from '@ts-container/image';
import {
  applyInstructionToConfig,
  commandLine,
  metadataComment,
  nopCreatedBy,
  runCreatedBy,
} from './config.js';
import { type BuildContext, type ContextSource, combineChecksums } from './context.js';
import { PatternMatcher } from './dockerignore.js';
import { BuildError, DockerfileParseError } from './errors.js';
import {
  type CopyInstruction,
  type Instruction,
  type RunInstruction,
  parseInstruction,
} from './instructions.js';
import { parseDockerfile } from './parser.js';
import { expandWord } from './shell.js';
import {
  BUILTIN_BUILD_ARGS,
  type PlannedStage,
  planBuild,
  resolveCopyFrom,
  unusedBuildArgsWarning,
} from './stages.js';

/**
 * The build executor: walks the planned stages, keeps each stage's image config, asks the
 * backend (the engine) to run commands, copy files and commit images, uses the backend's cache,
 * and reports progress in the classic builder's words (`Step 1/5 : FROM busybox`).
 */

// ---------------------------------------------------------------- the backend contract

export interface BaseImage {
  /** Content-addressed id, `sha256:<hex>`. */
  imageId: string;
  /** The image's run config (OCI `config`), or empty. */
  config: ImageRunConfig;
}

interface StepCommon {
  /** The image this step builds on; null when building on `scratch`. */
  parentImageId: string | null;
  /** The new image's run config (the config after this step). */
  config: ImageRunConfig;
  /** The history entry to append to the parent's history. */
  history: HistoryEntry;
  /** Record this on the new image so {@link BuildBackend.lookupCache} finds it later. */
  cacheKey: string;
  /** Set by MAINTAINER: the new image's `author`. */
  author?: string;
}

export interface RunStep extends StepCommon {
  /** The full command line (shell already prepended for the shell form). */
  argv: string[];
  /** The process environment: the config's Env plus the build args in effect. */
  env: string[];
  /** User and working directory to run as (from the config). */
  user: string;
  workingDir: string;
  /** `RUN --mount=...`, `--network=...` as written; a backend may refuse what it cannot do. */
  mounts: string[];
  network?: string;
  /** Output of the command, to be forwarded as it comes, with the stream it was written to. */
  onOutput: (chunk: string, stream?: OutputStream) => void;
  /** Call once the container exists, so `---> Running in <id>` precedes the output. */
  onStarted?: (containerId: string) => void;
}

export type CopySource =
  /**
   * A file or directory of the build context (the source itself is checked against
   * .dockerignore). When copying a directory, skip every entry whose context-relative path
   * (`src/sub/x.log`) `exclude` returns true for (.dockerignore and `COPY --exclude`).
   */
  | {
      kind: 'context';
      path: string;
      absolute: string;
      type: ContextSource['type'];
      exclude: (relPath: string) => boolean;
    }
  /** A path (may hold wildcards) inside another image: a stage's result or an external image. */
  | { kind: 'image'; imageId: string; path: string }
  /** An inline file from a heredoc. */
  | { kind: 'inline'; name: string; content: string };

export interface CopyStep extends StepCommon {
  instruction: 'COPY' | 'ADD';
  sources: CopySource[];
  /** Absolute destination in the image; a trailing `/` means "into this directory". */
  dest: string;
  /** `--chown` after substitution (`user`, `user:group`, numeric), resolved by the backend in the image. */
  chown?: string;
  /** `--chmod` octal mode. */
  chmod?: number;
  link: boolean;
  /** ADD: unpack local tar archives at the destination. */
  extractArchives: boolean;
}

export interface CommitStep extends StepCommon {
  /**
   * WORKDIR: create this directory in the image if it does not exist (Docker does). A backend
   * that adds a layer for it sets `history.empty_layer` to false.
   */
  ensureDirectory?: string;
}

export interface StepResult {
  imageId: string;
  /** The container used for the step, when one was created (printed as `Running in`). */
  containerId?: string;
  /** The container was removed after the step (`--rm`). */
  containerRemoved?: boolean;
}

export interface RunResult {
  exitCode: number;
  /** The committed image, present when exitCode is 0. */
  imageId?: string;
  containerId?: string;
  /** The container was removed after the step (`--rm`): printed as `Removing intermediate container`. */
  containerRemoved?: boolean;
}

/** What the engine provides for building. Every method may throw; errors abort the build. */
export interface BuildBackend {
  /** A base image by reference (pull it if needed); `scratch` is never asked for. */
  resolveImage(ref: string, options: { platform?: string }): Promise<BaseImage>;
  /** Run a command in a container made from `parentImageId`, commit the result with `config` and `history`. */
  run(step: RunStep): Promise<RunResult>;
  /** Add files on top of `parentImageId` and commit. */
  copy(step: CopyStep): Promise<StepResult>;
  /** Commit an image that only changes metadata (an `empty_layer` history entry). */
  commit(step: CommitStep): Promise<StepResult>;
  /** An image made earlier from `parentImageId` with the same `cacheKey`, if it still exists. */
  lookupCache(parentImageId: string | null, cacheKey: string): Promise<string | undefined>;
  /** Point a repository:tag at an image. */
  tag(imageId: string, reference: string): Promise<void>;
}

// ---------------------------------------------------------------- build

export interface BuildOptions {
  /** Repository tags for the result (`name`, `name:tag`). */
  tags?: readonly string[];
  /** Stage to build; default the last one. */
  target?: string;
  buildArgs?: Readonly<Record<string, string | undefined>>;
  /** Do not use the cache. */
  noCache?: boolean;
  /** Target platform (`linux/arm64`): FROM lines without --platform and TARGETPLATFORM & co. */
  platform?: string;
  /** Labels added to the final image (`docker build --label`). */
  labels?: Readonly<Record<string, string>>;
  /** Clock for history timestamps (tests). */
  now?: () => Date;
  /**
   * Each built stage's image, as the classic builder reports it (`{"aux":{"ID":…}}`) before
   * `Successfully built`: API clients take the last one as the result.
   */
  onImage?: (imageId: string) => void;
}

export interface BuildResult {
  imageId: string;
  tags: string[];
  /** Images of every built stage, by index. */
  stageImages: Map<number, string>;
  warnings: string[];
}

export type OutputStream = 'stdout' | 'stderr';

/**
 * Progress output: whole lines ending in `\n`, plus RUN output chunks as they come; `stream`
 * is `stderr` for what a RUN command wrote to its stderr (Docker shows it in red).
 */
export type ProgressListener = (message: string, stream?: OutputStream) => void;

interface StageState {
  imageId: string | null;
  config: ImageRunConfig;
  author?: string;
  /** Declared ARGs and their values in this stage. */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
}

/** Quotes a literal for the word expander: `'it'\''s'` stays `it's`, `$` stays literal. */
const singleQuote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

const shortId = (id: string | null): string => (id ?? '').replace(/^sha256:/, '').slice(0, 12);

/** `name` → `name:latest`, as Docker prints and stores tags. */
export function normalizeTag(ref: string): string {
  const lastSlash = ref.lastIndexOf('/');
  if (ref.includes('@') || ref.slice(lastSlash + 1).includes(':')) return ref;
  return `${ref}:latest`;
}

function cacheKeyOf(parts: unknown): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(parts)).digest('hex')}`;
}

/**
 * Builds a Dockerfile. Throws {@link DockerfileParseError} for invalid Dockerfiles,
 * `BuildContextError` for missing sources, and {@link BuildError} when a RUN step fails.
 */
export async function build(
  dockerfile: string,
  context: BuildContext | undefined,
  options: BuildOptions,
  backend: BuildBackend,
  onProgress: ProgressListener = () => {},
): Promise<BuildResult> {
  const parsed = parseDockerfile(dockerfile);
  const plan = planBuild(parsed, {
    ...(options.target !== undefined ? { target: options.target } : {}),
    ...(options.platform !== undefined ? { platform: options.platform } : {}),
    buildArgs: options.buildArgs ?? {},
  });
  const buildArgs = options.buildArgs ?? {};
  const escapeToken = plan.escapeToken;
  const now = options.now ?? (() => new Date());
  const warnings: string[] = [];
  const say = (line: string) => onProgress(`${line}\n`);

  const total = plan.metaArgs.length + plan.order.reduce((n, s) => n + 1 + s.instructions.length, 0);
  let stepNo = 0;
  const step = (original: string) => say(`Step ${++stepNo}/${total} : ${original}`);

  for (const meta of plan.metaArgs) step(meta.original);

  const stageImages = new Map<number, string>();
  const stageConfigs = new Map<number, ImageRunConfig>();
  const externalImages = new Map<string, BaseImage>();
  const resolveExternal = async (ref: string, platform?: string): Promise<BaseImage> => {
    const key = `${ref}\0${platform ?? ''}`;
    let img = externalImages.get(key);
    if (!img) {
      img = await backend.resolveImage(ref, platform !== undefined ? { platform } : {});
      externalImages.set(key, img);
    }
    return img;
  };

  let lastImage: string | null = null;
  for (const stage of plan.order) {
    step(stage.from.original);
    const state = await startStage(stage);
    say(` ---> ${shortId(state.imageId)}`);
    const triggers = state.config.OnBuild ?? [];
    if (triggers.length > 0) {
      say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}`);
      state.config = { ...state.config, OnBuild: [] };
      for (const expression of triggers) {
        const node = parseDockerfile(expression).nodes[0]!;
        await execute(
          stage,
          state,
          parseInstruction({ ...node, startLine: stage.from.line, endLine: stage.from.line }),
        );
      }
    }
    for (const inst of stage.instructions) {
      step(inst.original);
      await execute(stage, state, inst);
    }
    if (stage === plan.target && options.labels && Object.keys(options.labels).length > 0) {
      await metadataStep(state, {
        kind: 'LABEL',
        line: 0,
        endLine: 0,
        original: 'LABEL',
        pairs: Object.entries(options.labels).map(([key, value]) => ({
          key: singleQuote(key),
          value: singleQuote(value),
        })),
      });
    }
    if (state.imageId === null) throw new BuildError('No image was generated. Is your Dockerfile empty?');
    stageImages.set(stage.index, state.imageId);
    stageConfigs.set(stage.index, state.config);
    lastImage = state.imageId;
    options.onImage?.(state.imageId);
  }

  if (plan.unusedBuildArgs.length > 0) {
    const w = unusedBuildArgsWarning(plan.unusedBuildArgs);
    warnings.push(w);
    say(w);
  }
  const imageId = lastImage!;
  say(`Successfully built ${shortId(imageId)}`);
  const tags: string[] = [];
  for (const t of options.tags ?? []) {
    const tag = normalizeTag(t);
    await backend.tag(imageId, tag);
    tags.push(tag);
    say(`Successfully tagged ${tag}`);
  }
  return { imageId, tags, stageImages, warnings };

  // ------------------------------------------------------------ helpers (closures over the build)

  async function startStage(stage: PlannedStage): Promise<StageState> {
    const args = new Map<string, string | undefined>();
    if (stage.base.kind === 'scratch') return { imageId: null, config: {}, args, cmdSet: false };
    if (stage.base.kind === 'stage') {
      return {
        imageId: stageImages.get(stage.base.index)!,
        config: structuredClone(stageConfigs.get(stage.base.index)!),
        args,
        cmdSet: false,
      };
    }
    const img = await resolveExternal(stage.base.ref, stage.base.platform);
    return { imageId: img.imageId, config: structuredClone(img.config ?? {}), args, cmdSet: false };
  }

  /** ARG values overridden by ENV: what `$VAR` sees in this stage. */
  function varsOf(state: StageState): Record<string, string> {
    const vars: Record<string, string> = {};
    for (const [k, v] of state.args) if (v !== undefined) vars[k] = v;
    for (const kv of state.config.Env ?? []) {
      const eq = kv.indexOf('=');
      vars[eq < 0 ? kv : kv.slice(0, eq)] = eq < 0 ? '' : kv.slice(eq + 1);
    }
    return vars;
  }

  /** Build args in effect for RUN: declared, valued, not shadowed by ENV (`KEY=value`). */
  function runArgs(state: StageState): { all: string[]; history: string[] } {
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
      const v = buildArgs[k];
      if (v !== undefined && !state.args.has(k) && !envKeys.has(k)) all.push(`${k}=${v}`);
    }
    return { all, history };
  }

  function historyEntry(createdBy: string, emptyLayer: boolean): HistoryEntry {
    const h: HistoryEntry = { created: now().toISOString(), created_by: createdBy };
    if (emptyLayer) h.empty_layer = true;
    return h;
  }

  function word(state: StageState, text: string, line: number): string {
    try {
      return expandWord(text, varsOf(state), { escapeToken });
    } catch (e) {
      throw new DockerfileParseError((e as Error).message, line);
    }
  }

  async function cached(state: StageState, key: string): Promise<string | undefined> {
    if (options.noCache) return undefined;
    const hit = await backend.lookupCache(state.imageId, key);
    if (hit) {
      say(' ---> Using cache');
      say(` ---> ${shortId(hit)}`);
    }
    return hit;
  }

  function finish(state: StageState, result: StepResult): void {
    if (result.containerId && result.containerRemoved)
      say(`Removing intermediate container ${shortId(result.containerId)}`);
    say(` ---> ${shortId(result.imageId)}`);
    state.imageId = result.imageId;
  }

  async function execute(stage: PlannedStage, state: StageState, inst: Instruction): Promise<void> {
    switch (inst.kind) {
      case 'RUN':
        return runStep(state, inst);
      case 'COPY':
      case 'ADD':
        return copyStep(stage, state, inst);
      case 'ARG':
        for (const a of inst.args) {
          let value = a.value === undefined ? undefined : word(state, a.value, inst.line);
          if (value === undefined && plan.metaArgValues.has(a.key)) value = plan.metaArgValues.get(a.key);
          if (value === undefined) value = plan.automaticArgs[a.key];
          const override = buildArgs[a.key];
          if (override !== undefined) value = override;
          state.args.set(a.key, value);
        }
        return metadataStep(state, inst);
      case 'FROM':
        throw new DockerfileParseError('FROM cannot be used here', inst.line);
      default:
        return metadataStep(state, inst);
    }
  }

  async function metadataStep(state: StageState, inst: Instruction): Promise<void> {
    const before = state.config;
    const vars = varsOf(state);
    const after = applyInstructionToConfig(before, inst, vars, { escapeToken, cmdSet: state.cmdSet });
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
    const hit = await cached(state, key);
    if (hit) {
      state.imageId = hit;
      return;
    }
    const commit: CommitStep = {
      parentImageId: state.imageId,
      config: after,
      history: historyEntry(createdBy, true),
      cacheKey: key,
    };
    if (state.author !== undefined) commit.author = state.author;
    if (inst.kind === 'WORKDIR' && after.WorkingDir) commit.ensureDirectory = after.WorkingDir;
    finish(state, await backend.commit(commit));
  }

  async function runStep(state: StageState, inst: RunInstruction): Promise<void> {
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
    const { all, history } = runArgs(state);
    const createdBy = runCreatedBy(argv, history.length > 0 ? history : undefined);
    const env = [...(state.config.Env ?? []), ...all];
    const key = cacheKeyOf({
      createdBy,
      config: state.config,
      env,
      mounts: inst.mounts,
      network: inst.network ?? null,
    });
    const hit = await cached(state, key);
    if (hit) {
      state.imageId = hit;
      return;
    }
    const runStepArgs: RunStep = {
      parentImageId: state.imageId,
      config: state.config,
      history: historyEntry(createdBy, false),
      cacheKey: key,
      argv,
      env,
      user: state.config.User ?? '',
      workingDir: state.config.WorkingDir || '/',
      mounts: inst.mounts,
      onOutput: (chunk, stream) => onProgress(chunk, stream),
    };
    if (inst.network !== undefined) runStepArgs.network = inst.network;
    if (state.author !== undefined) runStepArgs.author = state.author;
    let announced = false;
    runStepArgs.onStarted = (containerId) => {
      if (announced) return;
      announced = true;
      say(` ---> Running in ${shortId(containerId)}`);
    };
    const result = await backend.run(runStepArgs);
    if (result.containerId && !announced) say(` ---> Running in ${shortId(result.containerId)}`);
    if (result.exitCode !== 0 || !result.imageId) {
      // `--force-rm` removes the failed step's container too, and says so before the error.
      if (result.containerId && result.containerRemoved)
        say(`Removing intermediate container ${shortId(result.containerId)}`);
      throw new BuildError(
        `The command '${argv.join(' ')}' returned a non-zero code: ${result.exitCode}`,
        result.exitCode,
      );
    }
    finish(state, {
      imageId: result.imageId,
      ...(result.containerId ? { containerId: result.containerId } : {}),
      ...(result.containerRemoved ? { containerRemoved: true } : {}),
    });
  }

  async function copyStep(stage: PlannedStage, state: StageState, inst: CopyInstruction): Promise<void> {
    const name = inst.kind;
    const sources: CopySource[] = [];
    const checksums: string[] = [];
    const heredocs = new Map(inst.heredocs.map((h) => [h.name, h]));
    const rawSources = inst.sources.map((s) => word(state, s, inst.line));
    if (inst.from !== undefined) {
      const fromValue = expandWord(
        inst.from,
        Object.fromEntries([...plan.metaArgValues].filter(([, v]) => v !== undefined)) as Record<
          string,
          string
        >,
        { escapeToken },
      );
      const ref = resolveCopyFrom(fromValue, stage.index, plan.allStages, inst.line);
      const imageId =
        ref.kind === 'stage'
          ? stageImages.get(ref.index)!
          : (await resolveExternal(ref.ref, options.platform)).imageId;
      for (const s of rawSources) {
        sources.push({ kind: 'image', imageId, path: s });
        checksums.push(`image:${createHash('sha256').update(`${imageId}\0${s}`).digest('hex')}`);
      }
    } else {
      const contextPaths: string[] = [];
      for (const s of rawSources) {
        const marker = /^\d*<<-?(.+)$/.exec(s);
        const heredoc = marker ? heredocs.get(marker[1]!.replace(/["']/g, '')) : undefined;
        if (heredoc) {
          let content = heredoc.chomp ? heredoc.content.replace(/^\t+/gm, '') : heredoc.content;
          // An unquoted marker means ARG/ENV substitution in the body; quotes and escapes stay.
          if (heredoc.expand) {
            content = expandWord(content, varsOf(state), { escapeToken, rawQuotes: true, rawEscapes: true });
          }
          sources.push({ kind: 'inline', name: heredoc.name, content });
          checksums.push(`file:${createHash('sha256').update(`${heredoc.name}\0${content}`).digest('hex')}`);
        } else contextPaths.push(s);
      }
      if (contextPaths.length > 0) {
        if (!context) throw new BuildError(`${name} failed: no build context`);
        if (name === 'ADD') {
          const url = contextPaths.find((p) => /^(https?|git):\/\//.test(p) || p.startsWith('git@'));
          if (url) throw new BuildError(`ADD failed: remote sources are not supported yet: ${url}`);
        }
        const excludes =
          inst.exclude.length > 0
            ? new PatternMatcher(inst.exclude.map((e) => word(state, e, inst.line)))
            : undefined;
        for (const entry of await context.resolveSources(contextPaths, name)) {
          sources.push({
            kind: 'context',
            path: entry.path,
            absolute: entry.absolute,
            type: entry.type,
            exclude: (rel) => {
              if (context.isExcluded(rel)) return true;
              if (!excludes) return false;
              const inside = entry.path === '.' ? rel : rel.slice(entry.path.length + 1);
              return excludes.matches(inside || rel);
            },
          });
          checksums.push(await context.checksum(entry));
        }
      }
    }
    let dest = word(state, inst.dest, inst.line);
    if (sources.length > 1 && !dest.endsWith('/')) {
      throw new BuildError(
        `When using ${name} with more than one source file, the destination must be a directory and end with a /`,
      );
    }
    if (!posix.isAbsolute(dest)) {
      const trailing = dest.endsWith('/') || dest === '.';
      dest = posix.join(state.config.WorkingDir || '/', dest);
      if (trailing && !dest.endsWith('/')) dest += '/';
    }
    const chown = inst.chown === undefined ? undefined : word(state, inst.chown, inst.line);
    let chmod: number | undefined;
    if (inst.chmod !== undefined) {
      const text = word(state, inst.chmod, inst.line);
      if (!/^[0-7]{1,4}$/.test(text))
        throw new DockerfileParseError(`invalid chmod parameter: ${text}`, inst.line);
      chmod = Number.parseInt(text, 8);
    }
    const sourceHash = combineChecksums(checksums);
    const createdBy = nopCreatedBy(
      state.config,
      `${name} ${sourceHash} in ${word(state, inst.dest, inst.line)} `,
      name,
    );
    const key = cacheKeyOf({
      createdBy,
      dest,
      chown: chown ?? null,
      chmod: chmod ?? null,
      link: inst.link,
      config: state.config,
    });
    const hit = await cached(state, key);
    if (hit) {
      state.imageId = hit;
      return;
    }
    const copy: CopyStep = {
      parentImageId: state.imageId,
      config: state.config,
      history: historyEntry(createdBy, false),
      cacheKey: key,
      instruction: name,
      sources,
      dest,
      link: inst.link,
      extractArchives: name === 'ADD',
    };
    if (chown !== undefined) copy.chown = chown;
    if (chmod !== undefined) copy.chmod = chmod;
    // The context's files are written out only now, for the first step that needs them.
    if (context && sources.some((s) => s.kind === 'context')) await context.materialize();
    if (state.author !== undefined) copy.author = state.author;
    finish(state, await backend.copy(copy));
  }
}

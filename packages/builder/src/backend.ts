import type { HistoryEntry, ImageRunConfig } from '@ts-container/image';
import type { ContextSource, ContextSpool } from './context.js';

/**
 * The contract between the build executor and whatever runs the steps (the engine's
 * `EngineBuildBackend`), and the build's options, result and progress shapes.
 */

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
      /** Set when the source is read from the spooled tar context rather than from `absolute`. */
      spool?: ContextSpool;
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

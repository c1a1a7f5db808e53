import type {
  BaseImage,
  BuildBackend,
  BuildOptions,
  BuildResult,
  OutputStream,
  ProgressListener,
} from './backend.js';
import { shortId } from './cache-key.js';
import type { BuildContext } from './context.js';
import { BuildError } from './errors.js';
import { parseDockerfile } from './parser.js';
import { type BuildSession, StageAborted, StageBuilder, type StageResult } from './stage.js';
import { planBuild, unusedBuildArgsWarning } from './stages.js';

export type {
  BaseImage,
  BuildBackend,
  BuildOptions,
  BuildResult,
  CommitStep,
  CopySource,
  CopyStep,
  OutputStream,
  ProgressListener,
  RunResult,
  RunStep,
  StepResult,
} from './backend.js';

/**
 * The build executor: a graph of the stages the target needs (the others are skipped, as
 * BuildKit skips them), where every stage starts as soon as the stages it builds on or copies
 * from are done, so independent stages run at the same time. Progress is reported in the
 * classic builder's words (`Step 1/5 : FROM busybox`), one stage after another in file order:
 * a stage that runs ahead is held back until the stages before it have printed.
 */

/** `name` → `name:latest`, as Docker prints and stores tags. */
export function normalizeTag(ref: string): string {
  const lastSlash = ref.lastIndexOf('/');
  if (ref.includes('@') || ref.slice(lastSlash + 1).includes(':')) return ref;
  return `${ref}:latest`;
}

type Held = { kind: 'text'; message: string; stream?: OutputStream } | { kind: 'image'; id: string };

/** Per-stage output channels, released in stage order: the first unfinished stage's live, later ones held. */
class OrderedOutput {
  private readonly held: Held[][];
  private current = 0;

  constructor(
    count: number,
    private readonly onProgress: ProgressListener,
    private readonly onImage: ((id: string) => void) | undefined,
  ) {
    this.held = Array.from({ length: count }, () => []);
  }

  private emit(item: Held): void {
    if (item.kind === 'text') this.onProgress(item.message, item.stream);
    else this.onImage?.(item.id);
  }

  private push(slot: number, item: Held): void {
    if (slot === this.current) this.emit(item);
    else this.held[slot]!.push(item);
  }

  progress(slot: number): ProgressListener {
    return (message, stream) => this.push(slot, { kind: 'text', message, ...(stream ? { stream } : {}) });
  }

  image(slot: number, id: string): void {
    this.push(slot, { kind: 'image', id });
  }

  /** Stage `slot` is done: the next stage's held output follows. */
  release(slot: number): void {
    if (slot !== this.current) return;
    this.current++;
    for (const item of this.held[this.current] ?? []) this.emit(item);
    if (this.held[this.current]) this.held[this.current] = [];
  }

  /** After a failure: everything held up to stage `slot`, so the failing step's output shows. */
  flushThrough(slot: number): void {
    while (this.current < slot) this.release(this.current);
  }
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
  const warnings: string[] = [];
  const say = (line: string) => onProgress(`${line}\n`);

  const total = plan.metaArgs.length + plan.order.reduce((n, s) => n + 1 + s.instructions.length, 0);
  for (const [i, meta] of plan.metaArgs.entries()) say(`Step ${i + 1}/${total} : ${meta.original}`);

  const externalImages = new Map<string, Promise<BaseImage>>();
  const running = new Map<number, Promise<StageResult>>();
  let failed = false;
  let firstFailure: { slot: number; err: unknown } | undefined;
  const session: BuildSession = {
    plan,
    options,
    backend,
    context,
    buildArgs: options.buildArgs ?? {},
    now: options.now ?? (() => new Date()),
    stageResult: (index) => {
      const p = running.get(index);
      if (!p) throw new BuildError(`stage ${index} is not part of this build`);
      return p;
    },
    external: (ref, platform) => {
      const key = `${ref}\0${platform ?? ''}`;
      let img = externalImages.get(key);
      if (!img) {
        img = backend.resolveImage(ref, platform !== undefined ? { platform } : {});
        externalImages.set(key, img);
      }
      return img;
    },
    aborted: () => failed,
  };

  const output = new OrderedOutput(plan.order.length, onProgress, options.onImage);
  let stepNo = plan.metaArgs.length + 1;
  plan.order.forEach((stage, slot) => {
    const builder = new StageBuilder(session, stage, output.progress(slot), stepNo, total);
    stepNo += 1 + stage.instructions.length;
    const result = (async () => {
      // Stages it depends on come earlier in the order: their promises exist already.
      await Promise.all(stage.dependsOn.map((i) => running.get(i)));
      const r = await builder.run();
      output.image(slot, r.imageId);
      return r;
    })();
    // Failures are reported through the in-order wait below; mark them handled here.
    result.catch((err: unknown) => {
      failed = true;
      if (!(err instanceof StageAborted)) firstFailure ??= { slot, err };
    });
    running.set(stage.index, result);
  });

  const stageImages = new Map<number, string>();
  try {
    for (const [slot, stage] of plan.order.entries()) {
      stageImages.set(stage.index, (await running.get(stage.index)!).imageId);
      output.release(slot);
    }
  } catch (err) {
    failed = true;
    // No step may still be running when the build returns; the first real failure is the error.
    await Promise.allSettled(running.values());
    const first = firstFailure ?? { slot: plan.order.length - 1, err };
    output.flushThrough(first.slot);
    throw first.err;
  }

  if (plan.unusedBuildArgs.length > 0) {
    const w = unusedBuildArgsWarning(plan.unusedBuildArgs);
    warnings.push(w);
    say(w);
  }
  const imageId = stageImages.get(plan.target.index)!;
  say(`Successfully built ${shortId(imageId)}`);
  const tags: string[] = [];
  for (const t of options.tags ?? []) {
    const tag = normalizeTag(t);
    await backend.tag(imageId, tag);
    tags.push(tag);
    say(`Successfully tagged ${tag}`);
  }
  return { imageId, tags, stageImages, warnings };
}

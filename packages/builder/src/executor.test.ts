import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HistoryEntry, ImageRunConfig } from '@ts-container/image';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BuildContext } from './context.js';
import { BuildError, DockerfileParseError } from './errors.js';
import {
  type BaseImage,
  type BuildBackend,
  type CommitStep,
  type CopyStep,
  type RunStep,
  build,
} from './executor.js';

/**
 * An in-memory backend: images are records with a parent, config and history; RUN "executes" by
 * recording the step (`false` fails). The real backend is the engine's.
 */
interface FakeImage {
  id: string;
  parent: string | null;
  config: ImageRunConfig;
  history: HistoryEntry[];
  cacheKey: string;
  author?: string;
}

class FakeBackend implements BuildBackend {
  images = new Map<string, FakeImage>();
  runs: RunStep[] = [];
  copies: CopyStep[] = [];
  commits: CommitStep[] = [];
  tags = new Map<string, string>();
  bases: Record<string, BaseImage> = {};
  private counter = 0;

  addBase(ref: string, config: ImageRunConfig, history: HistoryEntry[] = [{ created_by: 'base' }]): string {
    const id = `sha256:${createHash('sha256').update(ref).digest('hex')}`;
    this.images.set(id, { id, parent: null, config, history, cacheKey: '' });
    this.bases[ref] = { imageId: id, config };
    return id;
  }

  private commitImage(step: {
    parentImageId: string | null;
    config: ImageRunConfig;
    history: HistoryEntry;
    cacheKey: string;
    author?: string;
  }): string {
    const id = `sha256:${createHash('sha256')
      .update(`${step.parentImageId}${step.cacheKey}${this.counter++}`)
      .digest('hex')}`;
    const parent = step.parentImageId ? this.images.get(step.parentImageId)! : undefined;
    const img: FakeImage = {
      id,
      parent: step.parentImageId,
      config: step.config,
      history: [...(parent?.history ?? []), step.history],
      cacheKey: step.cacheKey,
    };
    if (step.author !== undefined) img.author = step.author;
    this.images.set(id, img);
    return id;
  }

  async resolveImage(ref: string): Promise<BaseImage> {
    const base = this.bases[ref];
    if (!base) throw new Error(`pull access denied for ${ref}`);
    return base;
  }
  async run(step: RunStep) {
    this.runs.push(step);
    const containerId = `c0ffee${String(this.runs.length).padStart(58, '0')}`;
    step.onStarted?.(containerId);
    step.onOutput(`output of ${step.argv.at(-1)}\n`);
    if (step.argv.includes('false')) return { exitCode: 1, containerId };
    return { exitCode: 0, imageId: this.commitImage(step), containerId, containerRemoved: true };
  }
  async copy(step: CopyStep) {
    this.copies.push(step);
    return { imageId: this.commitImage(step) };
  }
  async commit(step: CommitStep) {
    this.commits.push(step);
    return { imageId: this.commitImage(step) };
  }
  async lookupCache(parent: string | null, key: string) {
    for (const img of this.images.values()) if (img.parent === parent && img.cacheKey === key) return img.id;
    return undefined;
  }
  async tag(imageId: string, ref: string) {
    this.tags.set(ref, imageId);
  }
}

const short = (id: string) => id.replace('sha256:', '').slice(0, 12);
const fixedNow = () => new Date('2026-01-01T00:00:00Z');

describe('build', () => {
  let dir: string;
  let backend: FakeBackend;
  let busybox: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `builder-exec-${process.pid}-`));
    await writeFile(join(dir, 'hello.txt'), 'hello');
    await writeFile(join(dir, 'other.txt'), 'other');
    backend = new FakeBackend();
    busybox = backend.addBase('busybox', { Env: ['PATH=/usr/bin:/bin'], Cmd: ['sh'] });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const DOCKERFILE = `FROM busybox
ARG GREETING=hi
ENV APP=/app
WORKDIR $APP
RUN echo $GREETING > greeting
COPY hello.txt ./
CMD echo done
`;

  it('applies config, writes classic history, prints classic progress', async () => {
    const ctx = await BuildContext.fromDirectory(dir);
    const lines: string[] = [];
    const result = await build(
      DOCKERFILE,
      ctx,
      { tags: ['myimg'], buildArgs: { GREETING: 'hello', UNUSED: '1' }, now: fixedNow },
      backend,
      (l) => lines.push(l),
    );
    const img = backend.images.get(result.imageId)!;
    expect(img.config).toEqual({
      Env: ['PATH=/usr/bin:/bin', 'APP=/app'],
      Cmd: ['/bin/sh', '-c', 'echo done'],
      WorkingDir: '/app',
    });
    expect(img.history.map((h) => [h.created_by, h.empty_layer ?? false])).toEqual([
      ['base', false],
      ['/bin/sh -c #(nop)  ARG GREETING=hi', true],
      ['/bin/sh -c #(nop)  ENV APP=/app', true],
      ['/bin/sh -c #(nop) WORKDIR /app', true],
      ['|1 GREETING=hello /bin/sh -c echo $GREETING > greeting', false],
      [expect.stringMatching(/^\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \.\/ $/), false],
      ['/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo done"]', true],
    ]);
    expect(img.history.at(-1)!.created).toBe('2026-01-01T00:00:00.000Z');
    // RUN sees the build arg in its environment, the config does not keep it.
    expect(backend.runs[0]!.env).toEqual(['PATH=/usr/bin:/bin', 'APP=/app', 'GREETING=hello']);
    expect(backend.runs[0]!.workingDir).toBe('/app');
    expect(backend.commits.find((c) => c.ensureDirectory)?.ensureDirectory).toBe('/app');
    expect(backend.copies[0]!.dest).toBe('/app/');
    expect(backend.copies[0]!.sources).toMatchObject([{ kind: 'context', path: 'hello.txt', type: 'file' }]);
    expect(backend.tags.get('myimg:latest')).toBe(result.imageId);
    expect(result.warnings).toEqual(['[Warning] One or more build-args [UNUSED] were not consumed']);

    const out = lines.join('');
    expect(out).toContain(`Step 1/7 : FROM busybox\n ---> ${short(busybox)}\nStep 2/7 : ARG GREETING=hi\n`);
    expect(out).toContain(
      'Step 5/7 : RUN echo $GREETING > greeting\n ---> Running in c0ffee000000\noutput of echo $GREETING > greeting\nRemoving intermediate container c0ffee000000\n',
    );
    expect(out).toContain('Step 7/7 : CMD echo done\n');
    expect(
      out.endsWith(`Successfully built ${short(result.imageId)}\nSuccessfully tagged myimg:latest\n`),
    ).toBe(true);
    expect(out).toContain('[Warning] One or more build-args [UNUSED] were not consumed\n');
  });

  it('uses the cache for unchanged steps and rebuilds from the first changed one', async () => {
    const ctx = await BuildContext.fromDirectory(dir);
    const first = await build(DOCKERFILE, ctx, {}, backend);
    const lines: string[] = [];
    const second = await build(DOCKERFILE, ctx, {}, backend, (l) => lines.push(l));
    expect(second.imageId).toBe(first.imageId);
    expect(lines.filter((l) => l === ' ---> Using cache\n')).toHaveLength(6);
    expect(backend.runs).toHaveLength(1);

    await writeFile(join(dir, 'hello.txt'), 'changed');
    const third = await build(DOCKERFILE, ctx, {}, backend);
    expect(third.imageId).not.toBe(first.imageId);
    expect(backend.runs).toHaveLength(1); // RUN still cached: it comes before the COPY
    expect(backend.copies).toHaveLength(2);

    // A different build-arg value busts the RUN cache.
    await build(DOCKERFILE, ctx, { buildArgs: { GREETING: 'other' } }, backend);
    expect(backend.runs).toHaveLength(2);
    // --no-cache runs everything again.
    await build(DOCKERFILE, ctx, { noCache: true }, backend);
    expect(backend.runs).toHaveLength(3);
  });

  it('builds the stages the target needs, in file order, and skips the others (as BuildKit), with --target', async () => {
    backend.addBase('golang:1.22', { Env: ['GOPATH=/go'] });
    const text = `FROM golang:1.22 AS build
WORKDIR /src
COPY *.txt ./
RUN go build -o /out/app
FROM busybox AS debug
RUN echo debug
FROM scratch
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
`;
    const ctx = await BuildContext.fromDirectory(dir);
    const lines: string[] = [];
    const result = await build(text, ctx, {}, backend, (l) => lines.push(l));
    expect(backend.runs.map((r) => r.argv)).toEqual([['/bin/sh', '-c', 'go build -o /out/app']]);
    const buildImage = result.stageImages.get(0)!;
    expect(backend.copies[1]!.sources).toEqual([{ kind: 'image', imageId: buildImage, path: '/out/app' }]);
    expect(backend.copies[1]!.parentImageId).toBeNull();
    expect(backend.copies[0]!.sources.map((s) => (s.kind === 'context' ? s.path : ''))).toEqual([
      'hello.txt',
      'other.txt',
    ]);
    expect(backend.images.get(result.imageId)!.config).toEqual({ Entrypoint: ['/app'], Cmd: null });
    expect(lines.join('')).toContain('Step 5/7 : FROM scratch\n ---> \n');
    expect(lines.join('')).not.toContain('echo debug');

    const debugLines: string[] = [];
    const debug = await build(text, ctx, { target: 'debug' }, backend, (l) => debugLines.push(l));
    expect(backend.images.get(debug.imageId)!.history.at(-1)!.created_by).toBe('/bin/sh -c echo debug');
    expect(debugLines.join('')).toMatch(/^Step 1\/2 : FROM busybox AS debug\n/);
    expect(backend.runs).toHaveLength(2);
  });

  it('runs independent stages at the same time and prints them in file order', async () => {
    // Each stage's RUN waits until the other's has started: only concurrent stages finish.
    const started: string[] = [];
    const waiters: Array<() => void> = [];
    const run = backend.run.bind(backend);
    backend.run = async (step) => {
      started.push(step.argv.at(-1)!);
      if (started.length < 2) await new Promise<void>((resolve) => waiters.push(resolve));
      else for (const w of waiters.splice(0)) w();
      return run(step);
    };
    const text =
      'FROM busybox AS a\nRUN echo a\nFROM busybox AS b\nRUN echo b\nFROM busybox\nCOPY --from=a /x /a\nCOPY --from=b /x /b\n';
    const lines: string[] = [];
    const images: string[] = [];
    const result = await build(text, undefined, { onImage: (id) => images.push(id) }, backend, (l) =>
      lines.push(l),
    );
    expect(started.sort()).toEqual(['echo a', 'echo b']);
    const out = lines.join('');
    expect(out.indexOf('Step 2/7 : RUN echo a')).toBeLessThan(out.indexOf('output of echo a'));
    expect(out.indexOf('output of echo a')).toBeLessThan(out.indexOf('Step 3/7 : FROM busybox AS b'));
    expect(out.indexOf('output of echo b')).toBeLessThan(out.indexOf('Step 5/7 : FROM busybox\n'));
    expect(images).toEqual([result.stageImages.get(0), result.stageImages.get(1), result.imageId]);
  });

  it('reports the failing stage and stops the others at their next step', async () => {
    let failedRun!: () => void;
    const falseRan = new Promise<void>((resolve) => {
      failedRun = resolve;
    });
    const run = backend.run.bind(backend);
    backend.run = async (step) => {
      const result = await run(step);
      if (step.argv.includes('false')) failedRun();
      // Stage b's first step ends after stage a has failed.
      if (step.argv.at(-1) === 'echo b') await falseRan.then(() => new Promise((r) => setImmediate(r)));
      return result;
    };
    const text =
      'FROM busybox AS a\nRUN false\nFROM busybox AS b\nRUN echo b\nRUN echo b2\nFROM busybox\nCOPY --from=a /x /a\nCOPY --from=b /x /b\n';
    const lines: string[] = [];
    await expect(build(text, undefined, {}, backend, (l) => lines.push(l))).rejects.toThrow(
      "The command '/bin/sh -c false' returned a non-zero code: 1",
    );
    expect(lines.join('')).toContain('Step 2/8 : RUN false');
    expect(backend.runs.map((r) => r.argv.at(-1))).not.toContain('echo b2');
  });

  it('gives a tar context the cache keys and image of the same context read from disk; a changed file invalidates exactly the steps that read it', async () => {
    const text = 'FROM busybox\nCOPY hello.txt /h\nRUN echo x\nCOPY other.txt /o\nCMD ["x"]\n';
    const fromDisk = await build(text, await BuildContext.fromDirectory(dir), { now: fixedNow }, backend);
    const counts = () => [backend.runs.length, backend.copies.length, backend.commits.length];
    const before = counts();
    const tarOf = () => BuildContext.fromTar(execFileSync('tar', ['-C', dir, '-cf', '-', '.']));
    const ctx = await tarOf();
    const cached = await build(text, ctx, { now: fixedNow }, backend);
    await ctx.close();
    expect(cached.imageId).toBe(fromDisk.imageId);
    expect(counts()).toEqual(before);

    await writeFile(join(dir, 'other.txt'), 'changed');
    const lines: string[] = [];
    const ctx2 = await tarOf();
    const rebuilt = await build(text, ctx2, { now: fixedNow }, backend, (l) => lines.push(l));
    await ctx2.close();
    expect(rebuilt.imageId).not.toBe(fromDisk.imageId);
    // COPY hello.txt and RUN come from the cache; COPY other.txt and the CMD after it are made again.
    expect(lines.join('').match(/Using cache/g)).toHaveLength(2);
    expect(counts()).toEqual([before[0], before[1]! + 1, before[2]! + 1]);
    expect(backend.copies.at(-1)!.sources.map((s) => (s.kind === 'context' ? s.path : ''))).toEqual([
      'other.txt',
    ]);
  });

  it('runs ONBUILD triggers of the base image and clears them', async () => {
    backend.addBase('onbuild-base', { OnBuild: ['RUN echo triggered'] });
    const lines: string[] = [];
    const result = await build('FROM onbuild-base\nLABEL a=b\n', undefined, {}, backend, (l) =>
      lines.push(l),
    );
    expect(backend.runs[0]!.argv).toEqual(['/bin/sh', '-c', 'echo triggered']);
    expect(backend.images.get(result.imageId)!.config.OnBuild).toEqual([]);
    expect(lines.join('')).toContain('# Executing 1 build trigger\n');
  });

  it('adds --label labels literally and declares automatic platform ARGs on request', async () => {
    const result = await build(
      'FROM busybox\nARG TARGETARCH\nRUN echo $TARGETARCH\n',
      undefined,
      { labels: { 'org.x': "it's $HOME" }, platform: 'linux/arm64' },
      backend,
    );
    expect(backend.images.get(result.imageId)!.config.Labels).toEqual({ 'org.x': "it's $HOME" });
    expect(backend.runs[0]!.env).toContain('TARGETARCH=arm64');
    expect(backend.runs[0]!.history.created_by).toBe('|1 TARGETARCH=arm64 /bin/sh -c echo $TARGETARCH');
  });

  it('handles heredocs in RUN and COPY', async () => {
    const text =
      'FROM busybox\nARG NAME=world\nRUN <<EOF\necho one\necho two\nEOF\nRUN cat <<-A > /f\n\thello\nA\nCOPY <<EOF /greeting\nhello $NAME "quoted"\nEOF\n';
    await build(text, undefined, {}, backend);
    expect(backend.runs.map((r) => r.argv)).toEqual([
      ['/bin/sh', '-c', 'echo one\necho two\n'],
      ['/bin/sh', '-c', 'cat <<-A > /f\n\thello\nA\n'],
    ]);
    expect(backend.copies[0]!.sources).toEqual([
      { kind: 'inline', name: 'EOF', content: 'hello world "quoted"\n' },
    ]);
    expect(backend.copies[0]!.dest).toBe('/greeting');
  });

  it('applies .dockerignore and COPY --exclude to directory sources', async () => {
    await writeFile(join(dir, '.dockerignore'), '*.log\n');
    await writeFile(join(dir, 'x.log'), 'log');
    const ctx = await BuildContext.fromDirectory(dir);
    await build('FROM busybox\nCOPY --exclude=other.txt . /src/\n', ctx, {}, backend);
    const [source] = backend.copies[0]!.sources;
    expect(source).toMatchObject({ kind: 'context', path: '.', type: 'directory' });
    if (source?.kind !== 'context') throw new Error('expected a context source');
    expect(source.exclude('x.log')).toBe(true);
    expect(source.exclude('other.txt')).toBe(true);
    expect(source.exclude('hello.txt')).toBe(false);
  });

  it('fails with Docker messages', async () => {
    const ctx = await BuildContext.fromDirectory(dir);
    await expect(build('FROM busybox\nRUN false\n', ctx, {}, backend)).rejects.toThrow(
      new BuildError("The command '/bin/sh -c false' returned a non-zero code: 1", 1),
    );
    await expect(build('FROM busybox\nCOPY nosuch /x\n', ctx, {}, backend)).rejects.toThrow(
      'COPY failed: file not found in build context or excluded by .dockerignore: stat nosuch: file does not exist',
    );
    await expect(build('FROM busybox\nCOPY *.txt /x\n', ctx, {}, backend)).rejects.toThrow(
      'When using COPY with more than one source file, the destination must be a directory and end with a /',
    );
    await expect(build('FROM busybox\nRUNN x\n', ctx, {}, backend)).rejects.toThrow(DockerfileParseError);
    await expect(build('FROM nosuchimage\n', ctx, {}, backend)).rejects.toThrow(
      'pull access denied for nosuchimage',
    );
  });
});

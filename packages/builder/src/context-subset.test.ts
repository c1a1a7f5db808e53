import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contextPathsFor, contextSourcesOf } from './context-subset.js';
import { BuildContext } from './context.js';
import { BuildContextError, PARTIAL_CONTEXT_MESSAGE, PartialContextError } from './errors.js';

describe('contextSourcesOf: what a Dockerfile reads of its context', () => {
  it('lists the COPY/ADD sources of every stage, not --from, heredocs or URLs', () => {
    const dockerfile = `FROM busybox AS build
COPY a.txt src/ /app/
ADD *.tar.gz /opt/
ADD https://example.com/x.tgz /x
COPY <<EOF /etc/inline
text
EOF
FROM busybox
COPY --from=build /app /app
COPY ./conf/../conf/app.conf /etc/
`;
    expect(contextSourcesOf(dockerfile)).toEqual(['a.txt', 'src/', '*.tar.gz', './conf/../conf/app.conf']);
    expect(contextSourcesOf('FROM scratch\nCMD ["x"]\n')).toEqual([]);
  });

  it('cannot tell (undefined) for the whole context, variables, escapes, mounts, ONBUILD or a bad Dockerfile', () => {
    for (const text of [
      'FROM busybox\nCOPY . /app\n',
      'FROM busybox\nCOPY ./ /app\n',
      'FROM busybox\nCOPY a/.. /app\n',
      'FROM busybox\nARG SRC=a\nCOPY $SRC /app\n',
      'FROM busybox\nCOPY ${SRC:-a} /app\n',
      'FROM busybox\nCOPY "a b" /app\n',
      'FROM busybox\nCOPY a\\ b /app/\n',
      '# escape=`\nFROM busybox\nCOPY a`b /app\n',
      'FROM busybox\nRUN --mount=type=bind,target=/src make\n',
      'FROM busybox\nONBUILD COPY x /x\n',
      'FROM busybox\nCOPY --parents a/b /app/\n',
      'FROM busybox\nCOPPY a /app\n',
      '',
    ]) {
      expect(contextSourcesOf(text), text).toBeUndefined();
    }
  });
});

describe('contextPathsFor: the context paths a partial context sends', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `builder-subset-${process.pid}-`));
    await mkdir(join(dir, 'src/sub'), { recursive: true });
    await mkdir(join(dir, 'big'), { recursive: true });
    for (const f of ['Dockerfile', 'a.txt', 'b.txt', 'x.tar.gz', 'src/main.c', 'src/sub/f', 'big/data'])
      await writeFile(join(dir, f), f);
    await symlink('a.txt', join(dir, 'link'));
    await symlink('src', join(dir, 'srclink'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const context = () => BuildContext.fromDirectory(dir);

  it('sends each named path, everything below a directory, the directories above, and glob matches', async () => {
    const all = await context();
    expect(await contextPathsFor(all, ['a.txt'])).toEqual(['a.txt']);
    expect(await contextPathsFor(all, ['src/'])).toEqual(['src', 'src/main.c', 'src/sub', 'src/sub/f']);
    expect(await contextPathsFor(all, ['/src/sub/f'])).toEqual(['src', 'src/sub', 'src/sub/f']);
    expect(await contextPathsFor(all, ['*.txt', 'src/*/f'])).toEqual([
      'a.txt',
      'b.txt',
      'src',
      'src/sub',
      'src/sub/f',
    ]);
    // A missing source is sent as nothing: the daemon reports it as Docker does.
    expect(await contextPathsFor(all, ['missing.txt'])).toEqual([]);
  });

  it('gives up (undefined) when a source is, or lies behind, a symlink', async () => {
    const all = await context();
    expect(await contextPathsFor(all, ['link'])).toBeUndefined();
    expect(await contextPathsFor(all, ['srclink/main.c'])).toBeUndefined();
    expect(await contextPathsFor(all, ['l*'])).toBeUndefined();
  });
});

describe('a partial tar context (BuildContextOptions.sentSources)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `builder-partial-${process.pid}-`));
    await mkdir(join(dir, 'src'), { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /\n');
    await writeFile(join(dir, 'a.txt'), 'A');
    await writeFile(join(dir, 'src/main.c'), 'int main;');
    await symlink('src', join(dir, 'srclink'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const tarOf = (...paths: string[]) =>
    execFileSync('tar', ['-c', '--no-recursion', '-C', dir, ...paths], { maxBuffer: 1 << 24 });

  it('resolves the sources it was sent for, and reports a missing one as Docker does', async () => {
    const ctx = await BuildContext.fromTar(tarOf('Dockerfile', 'a.txt'), {
      sentSources: ['./a.txt', 'missing'],
    });
    try {
      expect((await ctx.resolveSources(['a.txt'])).map((s) => s.path)).toEqual(['a.txt']);
      const missing = await ctx.resolveSources(['missing']).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(BuildContextError);
      expect(missing).not.toBeInstanceOf(PartialContextError);
    } finally {
      await ctx.close();
    }
  });

  it('refuses a source it was not sent for, and one behind a symlink, with PartialContextError', async () => {
    const ctx = await BuildContext.fromTar(tarOf('Dockerfile', 'a.txt', 'srclink', 'src', 'src/main.c'), {
      sentSources: ['a.txt', 'srclink/main.c'],
    });
    try {
      const unsent = await ctx.resolveSources(['src/main.c']).catch((e: unknown) => e);
      expect(unsent).toBeInstanceOf(PartialContextError);
      expect((unsent as Error).message).toBe(`${PARTIAL_CONTEXT_MESSAGE}: src/main.c`);
      const linked = await ctx.resolveSources(['srclink/main.c']).catch((e: unknown) => e);
      expect(linked).toBeInstanceOf(PartialContextError);
    } finally {
      await ctx.close();
    }
  });

  it('is a whole context without sentSources', async () => {
    const ctx = await BuildContext.fromTar(tarOf('Dockerfile', 'a.txt', 'srclink', 'src', 'src/main.c'));
    try {
      expect((await ctx.resolveSources(['srclink/main.c'])).map((s) => s.path)).toEqual(['srclink/main.c']);
    } finally {
      await ctx.close();
    }
  });
});

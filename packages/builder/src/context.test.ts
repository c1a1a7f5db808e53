import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INLINE_HASH_MAX } from './context-index.js';
import { BuildContext, matchPath } from './context.js';
import { PatternMatcher, parseDockerignore } from './dockerignore.js';

describe('.dockerignore patterns', () => {
  const m = (patterns: string, path: string) => new PatternMatcher(parseDockerignore(patterns)).matches(path);

  it('matches like Docker', () => {
    expect(m('*.md', 'README.md')).toBe(true);
    expect(m('*.md', 'docs/README.md')).toBe(false);
    expect(m('**/*.md', 'docs/a/README.md')).toBe(true);
    expect(m('**/*.md', 'README.md')).toBe(true);
    expect(m('/node_modules', 'node_modules/x/y.js')).toBe(true);
    expect(m('docs/', 'docs/a')).toBe(true);
    expect(m('a?c', 'abc')).toBe(true);
    expect(m('a?c', 'a/c')).toBe(false);
    expect(m('[a-c]x', 'bx')).toBe(true);
    expect(m('foo/**', 'foo/bar/baz')).toBe(true);
    expect(m('# comment\n\n*.log\n!keep.log', 'keep.log')).toBe(false);
    expect(m('*.log\n!keep.log', 'other.log')).toBe(true);
    expect(m('!keep.log\n*.log', 'keep.log')).toBe(true);
    expect(m('dir\n!dir/keep', 'dir/keep')).toBe(false);
    expect(m('dir\n!dir/keep', 'dir/other')).toBe(true);
    expect(m('./a/../b', 'b')).toBe(true);
  });

  it('globs COPY sources like filepath.Match', () => {
    expect(matchPath('*.txt', 'a.txt')).toBe(true);
    expect(matchPath('*.txt', 'd/a.txt')).toBe(false);
    expect(matchPath('d/*.txt', 'd/a.txt')).toBe(true);
  });
});

describe('BuildContext', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `builder-ctx-${process.pid}-`));
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
    await writeFile(join(dir, 'a.txt'), 'A');
    await writeFile(join(dir, 'b.txt'), 'B');
    await writeFile(join(dir, 'secret.key'), 'S');
    await mkdir(join(dir, 'src/sub'), { recursive: true });
    await writeFile(join(dir, 'src/main.c'), 'int main;');
    await writeFile(join(dir, 'src/sub/x.log'), 'log');
    await symlink('a.txt', join(dir, 'link'));
    await writeFile(join(dir, '.dockerignore'), '*.key\n**/*.log\n');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves sources, globs, and excluded or missing files with Docker errors', async () => {
    const ctx = await BuildContext.fromDirectory(dir);
    expect((await ctx.resolveSources(['*.txt'])).map((s) => s.path)).toEqual(['a.txt', 'b.txt']);
    expect((await ctx.resolveSources(['/src/', 'link'])).map((s) => [s.path, s.type])).toEqual([
      ['src', 'directory'],
      ['link', 'symlink'],
    ]);
    await expect(ctx.resolveSources(['nosuch'])).rejects.toThrow(
      'COPY failed: file not found in build context or excluded by .dockerignore: stat nosuch: file does not exist',
    );
    await expect(ctx.resolveSources(['secret.key'])).rejects.toThrow('excluded by .dockerignore');
    await expect(ctx.resolveSources(['*.nothing'])).rejects.toThrow(
      'COPY failed: no source files were specified',
    );
    await expect(ctx.resolveSources(['../etc/passwd'])).rejects.toThrow(
      'forbidden path outside the build context',
    );
    expect(await ctx.walk('.')).not.toContain('src/sub/x.log');
    expect(await ctx.readDockerfile()).toContain('FROM scratch');
  });

  it('computes stable checksums that follow content, mode and names but not timestamps', async () => {
    const ctx = await BuildContext.fromDirectory(dir);
    const [file] = await ctx.resolveSources(['a.txt']);
    const [src] = await ctx.resolveSources(['src']);
    const f1 = await ctx.checksum(file!);
    const d1 = await ctx.checksum(src!);
    expect(f1).toMatch(/^file:[0-9a-f]{64}$/);
    expect(d1).toMatch(/^dir:[0-9a-f]{64}$/);
    // Excluded files do not count: changing one keeps the directory checksum.
    await writeFile(join(dir, 'src/sub/x.log'), 'other log');
    expect(await ctx.checksum(src!)).toBe(d1);
    // Touching a file (same content) keeps it.
    await writeFile(join(dir, 'a.txt'), 'A');
    expect(await ctx.checksum(file!)).toBe(f1);
    await chmod(join(dir, 'a.txt'), 0o600);
    expect(await ctx.checksum(file!)).not.toBe(f1);
    await writeFile(join(dir, 'src/main.c'), 'int main2;');
    expect(await ctx.checksum(src!)).not.toBe(d1);
  });

  it('reads a context from a tar stream (made by GNU tar) and cleans it up', async () => {
    const tar = execFileSync('tar', ['-C', dir, '-cf', '-', '.']);
    const ctx = await BuildContext.fromTar(
      (async function* () {
        yield tar.subarray(0, 1000);
        yield tar.subarray(1000);
      })(),
    );
    try {
      expect(ctx.root).not.toBe(dir);
      expect((await ctx.resolveSources(['*.txt'])).map((s) => s.path)).toEqual(['a.txt', 'b.txt']);
      await expect(ctx.resolveSources(['secret.key'])).rejects.toThrow('excluded by .dockerignore');
      const fromDir = await BuildContext.fromDirectory(dir);
      const [a] = await ctx.resolveSources(['src']);
      const [b] = await fromDir.resolveSources(['src']);
      expect(await ctx.checksum(a!)).toBe(await fromDir.checksum(b!));
    } finally {
      await ctx.close();
    }
    await expect(BuildContext.fromDirectory(ctx.root)).rejects.toThrow('not found');
  });

  it('indexes a tar context without unpacking it, with the checksums its unpacked files give', async () => {
    await rm(join(dir, 'link'));
    await chmod(join(dir, 'b.txt'), 0o600);
    await chmod(join(dir, 'src/sub'), 0o750);
    // Larger than what is hashed on arrival: its checksum is made from the spool when asked.
    await writeFile(join(dir, 'src/large.bin'), Buffer.alloc(INLINE_HASH_MAX + 1000, 'z'));
    const tar = execFileSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 64 * 2 ** 20 });
    const ctx = await BuildContext.fromTar(tar, { tempDir: tmpdir() });
    try {
      // Nothing is written out until a step needs the files: not even the directory.
      expect(existsSync(ctx.root)).toBe(false);
      const sources = ['.', 'src', 'src/sub', 'a.txt', 'b.txt', '*.txt', 'src/large.bin'];
      const indexed = [];
      for (const s of sources)
        for (const e of await ctx.resolveSources([s])) indexed.push(await ctx.checksum(e));
      expect(await ctx.readDockerfile()).toContain('FROM scratch');
      expect(await ctx.walk('.')).not.toContain('secret.key');
      await ctx.materialize();
      expect((await readdir(ctx.root)).sort()).toContain('Dockerfile');
      const onDisk = await BuildContext.fromDirectory(ctx.root);
      const fromDisk = [];
      for (const s of sources)
        for (const e of await onDisk.resolveSources([s])) fromDisk.push(await onDisk.checksum(e));
      expect(indexed).toEqual(fromDisk);
    } finally {
      await ctx.close();
    }
  });
});

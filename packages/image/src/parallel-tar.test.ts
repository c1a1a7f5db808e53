import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from './digest.js';
import { extractWithTar, scanLayer } from './fast-extract.js';
import { applyLayer } from './layer-tar.js';
import { canSplit } from './parallel-tar.js';
import { type TestTarEntry, makeTar } from './test-tar.js';

const skip =
  process.getuid?.() !== 0
    ? 'needs root (layers are extracted in parts only as root)'
    : (await execa('tar', ['--version'], { reject: false })).exitCode !== 0
      ? 'GNU tar is missing'
      : undefined;
if (skip) console.warn(`parallel tar tests skipped: ${skip}`);

/** Every path under `dir` with its type, mode, owner, size, mtime, link target and link count. */
async function listing(dir: string): Promise<string> {
  const { stdout } = await execa('find', ['.', '-printf', '%p %y %m %U %G %s %T@ %l %n\n'], { cwd: dir });
  // The root's own time is the target's business (the JavaScript extractor leaves it), and
  // whiteout devices are made at extraction time.
  return stdout
    .split('\n')
    .filter((l) => !l.startsWith('. '))
    .map((l) => (/^\S+ c /.test(l) ? l.replace(/ [\d.]+ {2}/, ' ') : l))
    .sort()
    .join('\n');
}

describe.skipIf(skip !== undefined)('layers extracted by several tar processes', () => {
  let root: string;
  let layer: string;
  let data: Buffer;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'parallel-tar-'));
    const entries: TestTarEntry[] = [{ name: './', type: 'directory', mode: 0o755, mtime: new Date(5e11) }];
    for (let d = 0; d < 12; d++) {
      const dir = `d${d}`;
      // Directories are made by every part's process: their modes, owners and times must be
      // the archive's whichever makes them first.
      entries.push({
        name: `${dir}/`,
        type: 'directory',
        mode: d === 3 ? 0o555 : d === 7 ? 0o2775 : d === 9 ? 0o1777 : 0o750,
        uid: d,
        gid: 100 + d,
        mtime: new Date(1e12 + d * 1000),
      });
      entries.push({ name: `${dir}/sub/`, type: 'directory', mode: 0o700, uid: 5, mtime: new Date(1.3e12) });
      entries.push({ name: `${dir}/sub/deep`, body: 'deep\n', mode: 0o600 });
      for (let f = 0; f < 200; f++)
        entries.push({
          name: `${dir}/f${f}`,
          body: `${dir}/${f}\n`.repeat(f),
          mode: 0o640,
          uid: f % 4,
          gid: f % 3,
          mtime: new Date(1.2e12),
        });
      entries.push({ name: `${dir}/sym`, type: 'symlink', linkname: 'f1', mtime: new Date(1.1e12) });
      entries.push({ name: `${dir}/hard`, type: 'link', linkname: `${dir}/f2` });
      entries.push({ name: `${dir}/.wh.gone`, body: '' });
    }
    entries.push({ name: 'd5/.wh..wh..opq', body: '' });
    data = await makeTar(entries);
    layer = join(root, 'layer.tar');
    await writeFile(layer, data);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes exactly what the JavaScript extractor writes', async () => {
    const scan = await scanLayer(layer);
    expect(scan && canSplit(scan)).toBe(true);
    const parts = join(root, 'parts');
    const careful = join(root, 'careful');
    await mkdir(parts);
    await mkdir(careful);
    const a = await applyLayer(createReadStream(layer), parts, { whiteouts: 'overlay' });
    const b = await applyLayer(createReadStream(layer), careful, {
      whiteouts: 'overlay',
      extractor: 'javascript',
    });
    expect(a).toEqual(b);
    expect(a.diffId).toBe(sha256Digest(data));
    expect(await listing(parts)).toBe(await listing(careful));
  });

  it('makes the directories of a layer of directories alone', async () => {
    const dirs: TestTarEntry[] = [];
    for (let d = 0; d < 2100; d++)
      dirs.push({ name: `e${d % 30}/${d}/`, type: 'directory', mode: 0o750, mtime: new Date(1e12) });
    for (let d = 0; d < 30; d++) dirs.unshift({ name: `e${d}/`, type: 'directory', mode: 0o755 });
    const file = join(root, 'dirs.tar');
    await writeFile(file, await makeTar(dirs));
    const scan = await scanLayer(file);
    expect(scan && canSplit(scan)).toBe(true);
    const parts = join(root, 'dirs-parts');
    const careful = join(root, 'dirs-careful');
    await mkdir(parts);
    await mkdir(careful);
    // Called itself: applyLayer would fall back to the careful extractor, hiding a failure.
    await extractWithTar(file, parts, scan!, { sameOwner: true, setOpaque: async () => undefined });
    await applyLayer(createReadStream(file), careful, { whiteouts: 'overlay', extractor: 'javascript' });
    expect(await listing(parts)).toBe(await listing(careful));
  });
});

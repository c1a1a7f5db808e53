import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from './digest.js';
import { scanLayer } from './fast-extract.js';
import { applyLayer } from './layer-tar.js';
import { type TestTarEntry, makeTar } from './test-tar.js';

const skip =
  process.getuid?.() !== 0
    ? 'needs root (owners are restored only as root)'
    : (await execa('tar', ['--version'], { reject: false })).exitCode !== 0
      ? 'GNU tar is missing'
      : undefined;
if (skip) console.warn(`fast-path vs GNU tar tests skipped: ${skip}`);

/** Every path under `dir` with its type, mode, owner, size, mtime, link target and link count. */
async function listing(dir: string, drop: (line: string) => boolean = () => false): Promise<string> {
  const { stdout } = await execa('find', ['.', '-printf', '%p %y %m %U %G %s %T@ %l %n\n'], { cwd: dir });
  return stdout
    .split('\n')
    .filter((l) => !drop(l))
    .sort()
    .join('\n');
}

/** A layer touching every case the fast path handles: modes, owners (pax ones too), links, long names. */
function layerEntries(): TestTarEntry[] {
  const t = (s: number) => new Date(s * 1000);
  const entries: TestTarEntry[] = [{ name: './', type: 'directory', mode: 0o751, mtime: t(5e8) }];
  for (let d = 0; d < 6; d++) {
    const dir = `d${d}`;
    const mode = [0o750, 0o555, 0o2775, 0o1777, 0o700, 0o755][d]!;
    entries.push({ name: `${dir}/`, type: 'directory', mode, uid: d, gid: 100 + d, mtime: t(1e9 + d) });
    for (let f = 0; f < 60; f++)
      entries.push({
        name: `${dir}/f${f}`,
        body: `${dir}/${f}\n`.repeat(f * 37),
        mode: [0o640, 0o4755, 0o2711, 0o600, 0o777, 0o1644][f % 6]!,
        uid: f % 4,
        gid: f % 3,
        mtime: t(1.2e9 + f),
      });
    entries.push({ name: `${dir}/sym`, type: 'symlink', linkname: 'f1', uid: 7, gid: 8, mtime: t(1.1e9) });
    entries.push({ name: `${dir}/abs`, type: 'symlink', linkname: '/etc/passwd', mtime: t(1.1e9) });
    entries.push({ name: `${dir}/hard`, type: 'link', linkname: `${dir}/f2` });
    entries.push({ name: `${dir}/empty`, body: '', mode: 0o644, mtime: t(1.3e9) });
  }
  entries.push({
    name: `d0/${'long-name-'.repeat(15)}`,
    body: 'a file whose name needs a pax header\n',
    mode: 0o644,
    mtime: t(1.4e9),
  });
  entries.push({
    name: 'd0/big-ids',
    body: 'owned by ids only pax can carry\n',
    mode: 0o644,
    uid: 0,
    gid: 0,
    pax: { uid: '3000000', gid: '3000001' },
    mtime: t(1.4e9),
  });
  // Bigger than one 1 MiB tar record.
  entries.push({ name: 'd5/big', body: 'x'.repeat(9 * 1024 * 1024 + 123), mode: 0o644, mtime: t(1.5e9) });
  entries.push({ name: 'd5/sub/', type: 'directory', mode: 0o755, mtime: t(1.6e9) });
  entries.push({ name: 'd5/sub/deep', body: 'deep\n', mode: 0o644, mtime: t(1.6e9) });
  return entries;
}

describe.skipIf(skip !== undefined)('the fast path (pre-scan + GNU tar) against `tar -x`', () => {
  let root: string;
  let layer: string;
  let data: Buffer;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'layer-tar-gnu-'));
    const entries = layerEntries();
    entries.push({ name: 'd1/.wh.gone', body: '' }, { name: 'd2/.wh..wh..opq', body: '' });
    data = await makeTar(entries);
    layer = join(root, 'layer.tar');
    await writeFile(layer, data);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes what `tar -x --xattrs` writes, and whiteouts as the careful extractor does', async () => {
    // The scan vouches for the layer, so it goes to GNU tar, not to the careful extractor.
    expect(await scanLayer(layer)).toBeDefined();
    const fast = join(root, 'fast');
    const careful = join(root, 'careful');
    const gnu = join(root, 'gnu');
    await Promise.all([mkdir(fast), mkdir(careful), mkdir(gnu)]);
    const a = await applyLayer(createReadStream(layer), fast, { whiteouts: 'overlay' });
    const b = await applyLayer(createReadStream(layer), careful, {
      whiteouts: 'overlay',
      extractor: 'javascript',
    });
    expect(a).toEqual(b);
    expect(a.diffId).toBe(sha256Digest(data));
    await execa('tar', ['-x', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-f', layer, '-C', gnu]);

    // GNU tar keeps whiteouts as files; ours turns them into overlayfs' form (checked below).
    const whiteout = (l: string) => /^\.\/d1\/(\.wh\.)?gone /.test(l) || l.startsWith('./d2/.wh..wh..opq ');
    expect(await listing(fast, whiteout)).toBe(await listing(gnu, whiteout));
    // The careful extractor leaves the root directory's mode, owner and time to its caller.
    const rootLine = (l: string) => l.startsWith('. ');
    const device = (l: string) => (/^\S+ c /.test(l) ? l.replace(/ [\d.]+ {2}/, ' ') : l);
    const normal = (s: string) => s.split('\n').map(device).join('\n');
    expect(normal(await listing(fast, rootLine))).toBe(normal(await listing(careful, rootLine)));
    const opaque = await execa('getfattr', [
      '-n',
      'trusted.overlay.opaque',
      '--only-values',
      join(fast, 'd2'),
    ]);
    expect(opaque.stdout).toBe('y');
  });

  it('writes a layer mostly of absolute symlinks (busybox) as `tar -x` does', async () => {
    const t = (s: number) => new Date(s * 1000);
    const entries: TestTarEntry[] = [
      { name: './', type: 'directory', mode: 0o755, mtime: t(5e8) },
      { name: './bin/', type: 'directory', mode: 0o755, mtime: t(6e8) },
      { name: './bin/busybox', body: 'b'.repeat(200_000), mode: 0o755, mtime: t(7e8) },
    ];
    for (let i = 0; i < 120; i++)
      entries.push({
        name: `./bin/t${i}`,
        type: 'symlink',
        linkname: '/bin/busybox',
        uid: i % 3,
        mtime: t(8e8),
      });
    const file = join(root, 'links.tar');
    await writeFile(file, await makeTar(entries));
    const ours = join(root, 'links-ours');
    const gnu = join(root, 'links-gnu');
    await Promise.all([mkdir(ours), mkdir(gnu)]);
    await applyLayer(createReadStream(file), ours, { whiteouts: 'overlay' });
    await execa('tar', ['-x', '--numeric-owner', '-f', file, '-C', gnu]);
    // The careful extractor leaves the root directory's attributes to its caller.
    const rootLine = (l: string) => l.startsWith('. ');
    expect(await listing(ours, rootLine)).toBe(await listing(gnu, rootLine));
  });

  it('falls back to the careful extractor, which refuses a hard link to a directory', async () => {
    const entries = layerEntries();
    entries.push({ name: 'd3/link-to-dir', type: 'link', linkname: 'd4' });
    const bad = join(root, 'bad.tar');
    await writeFile(bad, await makeTar(entries));
    expect(await scanLayer(bad)).toBeDefined();
    const target = join(root, 'bad');
    await mkdir(target);
    await expect(applyLayer(createReadStream(bad), target, { whiteouts: 'overlay' })).rejects.toThrow(
      /is a directory/,
    );
  });
});

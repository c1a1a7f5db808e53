#!/usr/bin/env node
// Layer extraction, ours (`applyLayer` of packages/image) against GNU `tar -x`, in consecutive
// rounds. Usage: node extract-rounds.mjs --dir DIR [--mb 200] [--file-kb 8] [--rounds 3]
// Prints one JSON line: { layerBytes, files, fs, rounds: [{ oursSeconds, tarSeconds, ratio }] }.
//
// How it is kept fair and stable (see tools/bench/README.md, "extract"):
// - Both extract onto a private ext4 filesystem made for the run (a sparse image on a loop
//   device with direct I/O), so other work on the host's filesystem does not land in the
//   timings. Without a loop device it falls back to DIR's filesystem and says so in `fs`.
// - Nothing is deleted on that filesystem until every round is done. On this host's ext4
//   (no journal) the inode allocator skips every inode freed in the last 5 s (300 s while its
//   inode-table block is dirty) with a buffer lookup per inode (`recently_deleted` in
//   fs/ext4/ialloc.c); an extraction that follows the `rm -rf` of 24k files pays that scan on
//   every create: it cost `tar` 13 s instead of ~1.5 s in the run of 2026-12-05 01:11.
// - The layer is read from the page cache by both (read once before the first round); the
//   target's page cache is not dropped (drop_caches would hit every other user of the machine):
//   instead `sync` runs before each timed extraction, so neither pays for the other's writeback.
// - Each round extracts both, each into a fresh directory, the first of them alternating round by
//   round (the one that goes first pays for the filesystem's state after the other's sync).
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    'file-kb': { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    dir: { type: 'string' },
    image: { type: 'string' },
  },
});
const image = values.image ?? new URL('../../../packages/image/dist/index.js', import.meta.url).href;
const { applyLayer } = await import(image);

const totalBytes = Number(values.mb) * 1e6;
const fileBytes = Number(values['file-kb']) * 1024;
const rounds = Number(values.rounds);
const work = await mkdtemp(join(values.dir ?? '/tmp', 'extract-rounds-'));
const target = join(work, 'fs');
let mounted = false;
let loop;
const sh = (cmd, args, out = 'pipe') =>
  execFileSync(cmd, args, { stdio: ['ignore', out, 'pipe'] })?.toString();

try {
  // Many small files in a few hundred directories, like a distribution's /usr.
  const src = join(work, 'src');
  const files = Math.ceil(totalBytes / fileBytes);
  const perDir = 200;
  const body = Buffer.alloc(fileBytes);
  for (let i = 0; i < files; i++) {
    if (i % perDir === 0) await mkdir(join(src, `d${i / perDir}`), { recursive: true });
    body.writeUInt32LE(i, 0);
    await writeFile(join(src, `d${Math.floor(i / perDir)}`, `f${i}`), body);
  }
  const layer = join(work, 'layer.tar');
  sh('tar', ['-C', src, '-cf', layer, '.']);
  await rm(src, { recursive: true, force: true });
  const layerBytes = (await stat(layer)).size;

  // The private filesystem: room (blocks and inodes) for every round's two copies.
  await mkdir(target);
  let fs = 'the host filesystem of --dir (no loop device)';
  try {
    const img = join(work, 'fs.img');
    const size = Math.ceil((layerBytes * 2 * rounds * 1.25) / 2 ** 20) + 256;
    sh('truncate', ['-s', `${size}M`, img]);
    const inodes = String(Math.ceil(files * 1.1 + files / perDir + 64) * 2 * rounds);
    sh('mkfs.ext4', ['-q', '-F', '-N', inodes, '-E', 'lazy_itable_init=0,lazy_journal_init=0', img]);
    // Direct I/O on the image file: what `sync` writes goes to the disk, not into the host's
    // page cache (where its writeback would run during the next timed extraction).
    loop = sh('losetup', ['--find', '--show', '--direct-io=on', img]).trim();
    sh('mount', [loop, target]);
    mounted = true;
    fs = `a private ext4 (${size} MiB, with journal) on a loop device (direct I/O)`;
  } catch (err) {
    process.stderr.write(`extract-rounds: no private filesystem (${String(err.message).split('\n')[0]})\n`);
  }

  // Both read the layer from the page cache.
  sh('cat', [layer], 'ignore');
  const timed = async (fn) => {
    sh('sync', []);
    const t = process.hrtime.bigint();
    await fn();
    return Number(process.hrtime.bigint() - t) / 1e9;
  };
  const results = [];
  for (let r = 0; r < rounds; r++) {
    const oursOut = join(target, `ours-${r}`);
    const tarOut = join(target, `tar-${r}`);
    await mkdir(oursOut);
    await mkdir(tarOut);
    const extractOurs = () =>
      timed(() => applyLayer(createReadStream(layer), oursOut, { whiteouts: 'overlay' }));
    // As root GNU tar restores owners, modes and times, as a layer extraction must.
    const extractTar = () =>
      timed(async () => sh('tar', ['--numeric-owner', '-C', tarOut, '-xf', layer], 'ignore'));
    let ours;
    let tar;
    if (r % 2 === 0) {
      ours = await extractOurs();
      tar = await extractTar();
    } else {
      tar = await extractTar();
      ours = await extractOurs();
    }
    results.push({
      oursSeconds: Math.round(ours * 1000) / 1000,
      tarSeconds: Math.round(tar * 1000) / 1000,
      // ours ÷ tar in throughput: above 1, ours is faster.
      ratio: Math.round((tar / ours) * 1000) / 1000,
    });
  }
  process.stdout.write(`${JSON.stringify({ layerBytes, files, fs, rounds: results })}\n`);
} finally {
  if (mounted) sh('umount', [target]);
  if (loop) sh('losetup', ['-d', loop]);
  await rm(work, { recursive: true, force: true });
}

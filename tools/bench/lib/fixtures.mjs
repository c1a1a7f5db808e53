// Inputs made locally (Docker Hub is unreachable): the busybox rootfs, a ~60 MB three-layer
// image as a `docker save` archive, a build context, and a plain-HTTP registry on loopback.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from './engines.mjs';
import { pool, run, sleep } from './proc.mjs';

export async function busyboxRootfs(root) {
  const out = join(root, 'busybox.tar');
  await run(join(REPO_ROOT, 'tools/images/make-busybox-rootfs'), [out]);
  return out;
}

function sha256File(path) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/**
 * A `docker save`-format archive of `bench/big:latest`: busybox plus two layers of ~29 MB of
 * random bytes each (random so compression cannot shrink what pull/push move).
 */
export async function bigImageArchive(root, busyboxTar) {
  const dir = await mkdtemp(join(root, 'big-'));
  const layers = [busyboxTar];
  for (const name of ['a', 'b']) {
    const content = join(dir, `content-${name}`);
    await mkdir(join(content, 'data'), { recursive: true });
    await writeFile(join(content, 'data', `${name}.bin`), randomBytes(29 * 1024 * 1024));
    const tar = join(dir, `layer-${name}.tar`);
    await run('tar', ['--numeric-owner', '-C', content, '-cf', tar, 'data']);
    await rm(content, { recursive: true, force: true });
    layers.push(tar);
  }
  const archive = join(dir, 'archive');
  await mkdir(archive);
  const diffIds = [];
  const layerPaths = [];
  for (const tar of layers) {
    const hex = await sha256File(tar);
    diffIds.push(`sha256:${hex}`);
    await mkdir(join(archive, hex));
    await run('cp', [tar, join(archive, hex, 'layer.tar')]);
    layerPaths.push(`${hex}/layer.tar`);
  }
  const created = '2024-01-01T00:00:00Z';
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created,
      config: { Cmd: ['sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: layers.map((_, i) => ({ created, created_by: `bench layer ${i}` })),
    }),
  );
  const configHex = createHash('sha256').update(config).digest('hex');
  await writeFile(join(archive, `${configHex}.json`), config);
  await writeFile(
    join(archive, 'manifest.json'),
    JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['bench/big:latest'], Layers: layerPaths }]),
  );
  const out = join(dir, 'big.tar');
  await run('tar', ['-C', archive, '-cf', out, '.']);
  await rm(archive, { recursive: true, force: true });
  for (const tar of layers.slice(1)) await rm(tar, { force: true });
  return { path: out, bytes: (await stat(out)).size, reference: 'bench/big:latest' };
}

export async function buildContext(root) {
  const dir = join(root, 'build-context');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'data.bin'), randomBytes(1024 * 1024));
  await writeFile(
    join(dir, 'Dockerfile'),
    [
      'FROM busybox',
      'ENV GREETING=hello',
      'RUN echo "$GREETING" > /greeting',
      'COPY data.bin /data/data.bin',
      'RUN mkdir /gen && for i in $(seq 200); do echo $i > /gen/$i; done',
      'WORKDIR /gen',
      'CMD ["cat", "/greeting"]',
      '',
    ].join('\n'),
  );
  return dir;
}

/** A build context of one `sizeMiB` file (sparse: cheap to make, all of it still sent) and a tiny Dockerfile. */
export async function bigBuildContext(root, sizeMiB) {
  const dir = join(root, `build-context-${sizeMiB}m`);
  await mkdir(dir, { recursive: true });
  await run('truncate', ['-s', `${sizeMiB}M`, join(dir, 'big.bin')]);
  await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY Dockerfile /\n');
  return dir;
}

export const TREE_FILES = 5000;
const TREE_DIRS = 50;

/**
 * The context: `tree/dNN/fNNN` (5,000 files of ~100 bytes in 50 directories) and a Dockerfile
 * that copies the tree, writes 200 files, tars both, and copies the archive into a second stage.
 */
export async function treeBuildContext(root, files = TREE_FILES) {
  const dir = join(root, `build-tree-${files}`);
  const perDir = Math.ceil(files / TREE_DIRS);
  for (let d = 0; d < TREE_DIRS; d++) {
    const sub = join(dir, 'tree', `d${String(d).padStart(2, '0')}`);
    await mkdir(sub, { recursive: true });
    const writes = [];
    for (let f = 0; f < perDir && d * perDir + f < files; f++) {
      const name = `f${String(f).padStart(3, '0')}`;
      writes.push(writeFile(join(sub, name), `${d}/${name} ${'x'.repeat(90)}\n`));
    }
    await Promise.all(writes);
  }
  await writeFile(
    join(dir, 'Dockerfile'),
    [
      'FROM busybox AS build',
      'COPY tree /src',
      'RUN mkdir /gen && for i in $(seq 200); do echo $i > /gen/$i; done',
      'RUN tar -cf /out.tar /src /gen',
      'FROM busybox',
      'COPY --from=build /out.tar /out.tar',
      'CMD ["tar", "-tf", "/out.tar"]',
      '',
    ].join('\n'),
  );
  return dir;
}

/**
 * A context of about `sizeMiB` MiB of mixed files, as a project's would be: half in 4 large
 * files of random bytes, 40% in 64 KiB files (half random, half text), 10% in 2 KiB text files;
 * the Dockerfile copies only itself, so a build's time is the upload and unpacking.
 */
export async function mixedBuildContext(root, sizeMiB) {
  const dir = join(root, `build-mixed-${sizeMiB}m`);
  const MiB = 1024 * 1024;
  await mkdir(join(dir, 'big'), { recursive: true });
  for (let i = 0; i < 4; i++)
    await writeFile(join(dir, 'big', `blob${i}.bin`), randomBytes(Math.round((sizeMiB * MiB) / 8)));
  const write = async (sub, count, size, make) => {
    for (let d = 0; d * 200 < count; d++) {
      const path = join(dir, sub, `d${d}`);
      await mkdir(path, { recursive: true });
      const n = Math.min(200, count - d * 200);
      await Promise.all(Array.from({ length: n }, (_, i) => writeFile(join(path, `f${i}`), make(i, size))));
    }
  };
  const text = (i, size) =>
    Buffer.from(`line ${i} of some source text\n`.repeat(Math.ceil(size / 28))).subarray(0, size);
  await write('medium', Math.round((sizeMiB * MiB * 0.4) / 65536), 65536, (i, size) =>
    i % 2 ? randomBytes(size) : text(i, size),
  );
  await write('small', Math.round((sizeMiB * MiB * 0.1) / 2048), 2048, text);
  await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY Dockerfile /\n');
  const du = await run('du', ['-sb', dir]);
  return { dir, bytes: Number(du.stdout.split(/\s/)[0]) };
}

/** A ustar archive of one regular file (root-owned, 0644, mtime 2024-01-01), made in memory. */
function oneFileTar(name, body) {
  const data = Buffer.from(body);
  const header = Buffer.alloc(512);
  const field = (offset, length, value) => header.write(value, offset, length, 'latin1');
  const octal = (offset, length, n) => field(offset, length, `${n.toString(8).padStart(length - 1, '0')}\0`);
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, data.length);
  octal(136, 12, Date.UTC(2024, 0, 1) / 1000);
  field(148, 8, ' '.repeat(8));
  field(156, 1, '0');
  field(257, 8, 'ustar\x0000');
  let sum = 0;
  for (const b of header) sum += b;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, pad, Buffer.alloc(1024)]);
}

/** A layer tar of one small file `name` holding `body` (a distinct layer per body). */
async function tinyLayer(dir, name, body) {
  const tar = join(dir, `${name}.tar`);
  await writeFile(tar, oneFileTar(name, body));
  return tar;
}

/**
 * Writes a `docker save` archive holding `images` ([{ ref, layers: [tar paths], label }]; layers
 * shared between images are stored once) and returns its path.
 */
async function saveArchive(dir, images) {
  const archive = join(dir, 'archive');
  await mkdir(archive, { recursive: true });
  const stored = new Map();
  const manifest = [];
  const created = '2024-01-01T00:00:00Z';
  for (const img of images) {
    const diffIds = [];
    const paths = [];
    for (const tar of img.layers) {
      if (!stored.has(tar)) {
        const hex = await sha256File(tar);
        await mkdir(join(archive, hex), { recursive: true });
        await copyFile(tar, join(archive, hex, 'layer.tar'));
        stored.set(tar, hex);
      }
      diffIds.push(`sha256:${stored.get(tar)}`);
      paths.push(`${stored.get(tar)}/layer.tar`);
    }
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created,
        config: {
          Cmd: ['sh'],
          Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
          Labels: { bench: img.label ?? img.ref },
        },
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: diffIds.map((_, i) => ({ created, created_by: `bench layer ${i}` })),
      }),
    );
    const configHex = createHash('sha256').update(config).digest('hex');
    await writeFile(join(archive, `${configHex}.json`), config);
    manifest.push({ Config: `${configHex}.json`, RepoTags: [img.ref], Layers: paths });
  }
  await writeFile(join(archive, 'manifest.json'), JSON.stringify(manifest));
  const out = join(dir, `save-${Date.now()}.tar`);
  await run('tar', ['-C', archive, '-cf', out, '.']);
  await rm(archive, { recursive: true, force: true });
  return out;
}

/**
 * An archive of images `bench/img-FROM` … `bench/img-(TO-1)`, each of one tiny layer of its own
 * (images that all shared one layer would be a degenerate case: podman relates every image on a
 * layer to every other and slows down quadratically, which real image sets never show).
 */
export async function manyImagesArchive(root, from, to) {
  const dir = await mkdtemp(join(root, 'images-'));
  const idx = Array.from({ length: to - from }, (_, i) => from + i);
  const layers = await pool(idx, 4, (i) => tinyLayer(dir, `img-${i}`, `image ${i}\n`));
  const images = idx.map((i, k) => ({ ref: `bench/img-${i}:latest`, layers: [layers[k]] }));
  return { dir, path: await saveArchive(dir, images), refs: images.map((i) => i.ref) };
}

/** An archive of `bench/layers-N:latest`: busybox plus N−1 one-file layers (N layers in all). */
export async function layeredImageArchive(root, busyboxTar, n) {
  const dir = await mkdtemp(join(root, 'layers-'));
  const layers = [busyboxTar];
  for (let i = 1; i < n; i++) layers.push(await tinyLayer(dir, `l${i}`, `${i}\n`));
  const ref = `bench/layers-${n}:latest`;
  return { dir, path: await saveArchive(dir, [{ ref, layers }]), ref };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Debian's docker-registry on 127.0.0.1, restartable on the same port with empty storage. */
export class LocalRegistry {
  static async start(root) {
    const r = new LocalRegistry();
    r.dir = await mkdtemp(join(root, 'registry-'));
    r.port = await freePort();
    await writeFile(
      join(r.dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(r.dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${r.port}\n`,
    );
    await r.launch();
    return r;
  }

  get host() {
    return `127.0.0.1:${this.port}`;
  }

  async launch() {
    this.proc = spawn('docker-registry', ['serve', join(this.dir, 'config.yml')], { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      const ok = await fetch(`http://${this.host}/v2/`).then(
        () => true,
        () => false,
      );
      if (ok) return;
      await sleep(50);
    }
    throw new Error('docker-registry did not start');
  }

  async halt() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGKILL');
    await Promise.race([exited, sleep(5000)]);
  }

  /** Empty storage, so a push uploads every blob (no cross-repository mounts or dedup). */
  async reset() {
    await this.halt();
    await rm(join(this.dir, 'data'), { recursive: true, force: true });
    await this.launch();
  }

  async stop() {
    await this.halt();
    await rm(this.dir, { recursive: true, force: true });
  }
}

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  TSCTR,
  busyboxRootfsTar,
  e2eSkip,
  tsctrArgv,
  useDaemon,
  useTempDir,
} from '@ts-container/test-harness';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('image end-to-end tests');

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** Builds a `docker save`-format archive (legacy layout: <id>/layer.tar) from layer directories. */
async function makeDockerArchive(
  work: string,
  layerTars: string[],
  repoTag: string,
  cmd: string[],
): Promise<string> {
  const dir = join(work, `archive-${Math.random().toString(36).slice(2)}`);
  await mkdir(dir, { recursive: true });
  const diffIds: string[] = [];
  const layerPaths: string[] = [];
  for (const tarPath of layerTars) {
    const diffId = await sha256File(tarPath);
    diffIds.push(diffId);
    const layerDir = join(dir, `${diffId.slice(7)}`);
    await mkdir(layerDir, { recursive: true });
    await execa('cp', [tarPath, join(layerDir, 'layer.tar')]);
    await writeFile(join(layerDir, 'VERSION'), '1.0');
    layerPaths.push(`${diffId.slice(7)}/layer.tar`);
  }
  const config = JSON.stringify({
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    created: '2024-01-02T03:04:05Z',
    config: { Cmd: cmd, Env: ['PATH=/bin:/usr/bin'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map((_, i) => ({ created: '2024-01-02T03:04:05Z', created_by: `layer ${i}` })),
  });
  const configHex = createHash('sha256').update(config).digest('hex');
  await writeFile(join(dir, `${configHex}.json`), config);
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [repoTag], Layers: layerPaths }]),
  );
  const out = `${dir}.tar`;
  await execa('tar', ['-C', dir, '-cf', out, '.']);
  return out;
}

describe.skipIf(skip !== undefined)('image save, load, prune and disk usage', () => {
  const work = useTempDir(`tsctr-images-${process.pid}-`);
  const daemon = useDaemon();

  it('saves a docker-archive that skopeo inspects and umoci unpacks', async () => {
    const file = join(work, 'busybox.tar');
    const r = await daemon.tsctr(['save', '-o', file, 'busybox']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const listing = (await execa('tar', ['-tf', file])).stdout.split('\n');
    expect(listing).toEqual(
      expect.arrayContaining(['index.json', 'manifest.json', 'oci-layout', 'repositories']),
    );
    const inspect = await execa('skopeo', ['inspect', `docker-archive:${file}`]);
    const info = JSON.parse(inspect.stdout) as { Layers: string[]; Architecture: string };
    expect(info.Layers).toHaveLength(1);
    const layout = join(work, 'oci-busybox');
    await execa('skopeo', ['copy', `docker-archive:${file}`, `oci:${layout}:v1`]);
    const bundle = join(work, 'bundle');
    await execa('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    expect((await stat(join(bundle, 'rootfs/bin/busybox'))).isFile()).toBe(true);
    // The OCI layout inside the archive is valid as well.
    const oci = await execa('skopeo', ['inspect', `oci-archive:${file}`], { reject: false });
    expect(oci.exitCode, oci.stderr).toBe(0);
    // docker save against our daemon writes the same archive.
    const viaDocker = join(work, 'busybox-docker.tar');
    const d = await daemon.docker(['save', '-o', viaDocker, 'busybox:latest']);
    expect(d.stderr).toBe('');
    expect((await execa('skopeo', ['inspect', `docker-archive:${viaDocker}`])).exitCode).toBe(0);
  });

  it("loads what it saved, by file and by stdin, with Docker's messages", async () => {
    const file = join(work, 'busybox.tar');
    await daemon.tsctr(['tag', 'busybox', 'copy:1']);
    expect((await daemon.tsctr(['rmi', 'copy:1'])).exitCode).toBe(0);
    const load = await daemon.tsctr(['load', '-i', file]);
    expect(load.stderr).toBe('');
    expect(load.stdout).toBe('Loaded image: busybox:latest');
    const byStdin = await execa('sh', ['-c', `${TSCTR.shell} load -q < ${file}`], {
      env: daemon.env,
      reject: false,
    });
    expect(byStdin.stdout).toBe('Loaded image: busybox:latest');
    const inspect = await daemon.tsctr(['image', 'inspect', '-f', '{{.Id}}', 'busybox']);
    expect(inspect.stdout).toBe(daemon.busyboxId);
    // docker CLI against our daemon as well.
    const docker = await daemon.docker(['load', '-i', file]);
    expect(docker.stdout).toContain('Loaded image: busybox:latest');
    const missing = await daemon.tsctr(['load', '-i', join(work, 'nope.tar')]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('no such file or directory');
  });

  it('loads a multi-layer docker save archive with whiteouts and runs it', async () => {
    const l1 = join(work, 'l1');
    await mkdir(join(l1, 'data/d'), { recursive: true });
    await writeFile(join(l1, 'data/a'), 'a');
    await writeFile(join(l1, 'data/b'), 'b');
    await writeFile(join(l1, 'data/d/x'), 'x');
    const l2 = join(work, 'l2');
    await mkdir(join(l2, 'data/d'), { recursive: true });
    await writeFile(join(l2, 'data/.wh.a'), '');
    await writeFile(join(l2, 'data/d/.wh..wh..opq'), '');
    await writeFile(join(l2, 'data/d/y'), 'y');
    await writeFile(join(l2, 'data/c'), 'c');
    await execa('tar', ['-C', l1, '-cf', `${l1}.tar`, 'data']);
    await execa('tar', ['-C', l2, '-cf', `${l2}.tar`, 'data']);
    const archive = await makeDockerArchive(
      work,
      [await busyboxRootfsTar(), `${l1}.tar`, `${l2}.tar`],
      'layered:v1',
      ['sh'],
    );
    const load = await daemon.tsctr(['load', '-i', archive]);
    expect(load.stderr).toBe('');
    expect(load.stdout).toBe('Loaded image: layered:v1');
    const run = await daemon.tsctr(['run', '--rm', 'layered:v1', 'ls', '/data', '/data/d']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('/data:\nb\nc\nd\n\n/data/d:\ny');
    const history = await daemon.tsctr(['history', '--format', '{{.ID}}|{{.CreatedBy}}', 'layered:v1']);
    expect(history.stdout.split('\n')).toEqual([
      expect.stringMatching(/^[a-f0-9]{12}\|layer 2$/),
      '<missing>|layer 1',
      '<missing>|layer 0',
    ]);

    const inspect = JSON.parse((await daemon.tsctr(['image', 'inspect', 'layered:v1'])).stdout)[0];
    expect(inspect.RootFS.Layers).toHaveLength(3);
    expect(inspect.RepoTags).toEqual(['layered:v1']);
    expect(inspect.Created).toBe('2024-01-02T03:04:05Z');
    expect(inspect.Config.Cmd).toEqual(['sh']);
    expect(inspect.Size).toBeGreaterThan(0);
    expect(inspect.GraphDriver.Data.UpperDir).toMatch(/^\//);
    expect(inspect.GraphDriver.Data.LowerDir.split(':')).toHaveLength(2);
    expect(inspect.Metadata.LastTagTime).toMatch(/^\d{4}-/);

    // The same image as a gzip-compressed OCI layout (made by skopeo) loads too, untagged.
    const layout = join(work, 'oci-layered');
    await execa('skopeo', ['copy', `docker-archive:${archive}`, `oci:${layout}:v1`]);
    await execa('sh', ['-c', `tar -C ${layout} -cf - . | gzip > ${layout}.tar.gz`]);
    await daemon.tsctr(['rmi', 'layered:v1']);
    const oci = await daemon.tsctr(['load', '-i', `${layout}.tar.gz`]);
    expect(oci.stderr).toBe('');
    expect(oci.stdout).toMatch(/^Loaded image ID: sha256:[a-f0-9]{64}$/);
    const id = oci.stdout.slice('Loaded image ID: '.length);
    const ran = await daemon.tsctr(['run', '--rm', id, 'cat', '/data/c', '/data/d/y']);
    expect(ran.stdout).toBe('cy');
    await daemon.tsctr(['rmi', id]);
  });

  it('lists, filters and prunes images like Docker', async () => {
    // Retagging moves the tag: the old image becomes <none>:<none> (dangling).
    const old = (await daemon.tsctr(['import', '-c', 'LABEL stage=old', await busyboxRootfsTar(), 'app:1']))
      .stdout;
    const newer = (
      await daemon.tsctr([
        'import',
        '-m',
        'second',
        '-c',
        'LABEL stage=new',
        await busyboxRootfsTar(),
        'app:1',
      ])
    ).stdout;
    expect(newer).not.toBe(old);
    const dangling = await daemon.tsctr(['images', '-q', '--no-trunc', '--filter', 'dangling=true']);
    expect(dangling.stdout.split('\n')).toContain(old);
    const table = await daemon.tsctr(['images', '--filter', 'dangling=true']);
    expect(table.stdout).toMatch(new RegExp(`<none>\\s+<none>\\s+${old.slice(7, 19)}`));
    const labelled = await daemon.tsctr(['images', '-q', '--filter', 'label=stage=new']);
    expect(labelled.stdout).toBe(newer.slice(7, 19));
    const since = await daemon.tsctr(['images', '-q', '--no-trunc', '--filter', `since=${daemon.busyboxId}`]);
    expect(since.stdout.split('\n')).toEqual(expect.arrayContaining([old, newer]));
    const badFilter = await daemon.tsctr(['images', '--filter', 'bogus=1']);
    expect(badFilter.exitCode).not.toBe(0);
    expect(badFilter.stderr).toContain("invalid filter 'bogus'");
    const digests = await daemon.tsctr(['images', '--digests', 'app']);
    expect(digests.stdout.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/);

    // rmi of an image a container uses is refused unless forced.
    const c = await daemon.tsctr(['create', 'app:1', 'true']);
    expect(c.exitCode).toBe(0);
    const refused = await daemon.tsctr(['rmi', newer]);
    expect(refused.stderr).toContain('must be forced');

    const prune = await daemon.tsctr(['image', 'prune', '-f']);
    expect(prune.stdout).toMatch(
      new RegExp(`^Deleted Images:\\ndeleted: ${old}\\n\\nTotal reclaimed space: [0-9.]+[kMG]?B$`),
    );
    const none = await daemon.tsctr(['image', 'prune', '-f']);
    expect(none.stdout).toBe('Total reclaimed space: 0B');
    // -a keeps images in use (app:1 by the container, busybox's image is unused here but tagged).
    await daemon.tsctr(['tag', 'busybox', 'spare:1']);
    const all = await daemon.tsctr(['image', 'prune', '-a', '-f', '--filter', 'label=stage=nothing']);
    expect(all.stdout).toBe('Total reclaimed space: 0B');
    await daemon.tsctr(['rm', c.stdout.trim()]);
    const df = await daemon.tsctr(['system', 'df']);
    expect(df.stdout.split('\n')[0]).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    expect(df.stdout).toMatch(/Images\s+\d+\s+0\s+[0-9.]+[kMG]?B\s+[0-9.]+[kMG]?B \(100%\)/);
    const dfv = await daemon.tsctr(['system', 'df', '-v']);
    expect(dfv.stdout).toContain('Images space usage:');
    expect(dfv.stdout).toMatch(/SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS/);
    // The real docker CLI reads the same endpoints.
    const dockerDf = await daemon.docker(['system', 'df']);
    expect(dockerDf.stderr).toBe('');
    expect(dockerDf.stdout).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages\s+\d+/);
    const dockerPrune = await daemon.docker(['image', 'prune', '-f']);
    expect(dockerPrune.stdout).toBe('Total reclaimed space: 0B');
    await daemon.tsctr(['rmi', 'app:1', 'spare:1']);
  });

  it('imports from a URL and from stdin with a message', async () => {
    const tarPath = await busyboxRootfsTar();
    const server = createServer((req, res) => {
      if (req.url !== '/rootfs.tar') {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200);
      createReadStream(tarPath).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const url = `http://127.0.0.1:${port}/rootfs.tar`;
      const r = await daemon.tsctr(['import', url, 'fromurl:1']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^sha256:[a-f0-9]{64}$/);
      const h = await daemon.tsctr(['history', '--format', '{{.Comment}}', 'fromurl:1']);
      expect(h.stdout).toBe(`Imported from ${url}`);
      const bad = await daemon.tsctr(['import', `http://127.0.0.1:${port}/missing`, 'x:1']);
      expect(bad.exitCode).not.toBe(0);
    } finally {
      server.close();
    }
    const piped = await execa('sh', ['-c', `cat ${tarPath} | ${TSCTR.shell} import -m hello - piped:1`], {
      env: daemon.env,
      reject: false,
    });
    expect(piped.stdout).toMatch(/^sha256:/);
    const inspect = await daemon.tsctr(['image', 'inspect', '-f', '{{.Comment}}', 'piped:1']);
    expect(inspect.stdout).toBe('hello');
    await daemon.tsctr(['rmi', 'fromurl:1', 'piped:1']);
  });
});

describe.skipIf(skip !== undefined)('image load survives a daemon crash', () => {
  const work = useTempDir(`tsctr-crash-${process.pid}-`);
  const daemon = useDaemon({ busybox: false });

  const blobsDir = () => join(daemon.dataRoot, 'content/blobs/sha256');
  const ingestDir = () => join(daemon.dataRoot, 'content/ingest');
  const snapshots = async () => {
    const storage = join(daemon.dataRoot, 'storage');
    const out: string[] = [];
    for (const driver of await readdir(storage))
      out.push(...(await readdir(join(storage, driver, 'metadata')).catch(() => [])));
    return out;
  };
  const ingestBytes = async () => {
    let total = 0;
    for (const ref of await readdir(ingestDir()).catch(() => []))
      total += (await stat(join(ingestDir(), ref, 'data')).catch(() => ({ size: 0 }))).size;
    return total;
  };

  it('kill -9 mid-load leaves nothing a prune cannot remove, and a second load works', async () => {
    const layerDir = join(work, 'big');
    await mkdir(layerDir);
    await execa('head', ['-c', String(100 << 20), '/dev/urandom'], {
      stdout: { file: join(layerDir, 'random.bin') },
    });
    await execa('tar', ['-C', layerDir, '-cf', `${layerDir}.tar`, '.']);
    const archive = await makeDockerArchive(work, [await busyboxRootfsTar(), `${layerDir}.tar`], 'big:1', [
      'sh',
    ]);
    const size = (await stat(archive)).size;

    // Feed the archive by hand so the daemon is certainly in the middle of it when killed.
    const cli = spawn(...tsctrArgv(['load']), {
      env: { ...process.env, ...daemon.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const cliExit = new Promise((r) => cli.once('exit', r));
    cli.stdin.on('error', () => undefined);
    const data = await readFile(archive);
    const half = Math.floor(size * 0.7);
    await new Promise<void>((r) => cli.stdin.write(data.subarray(0, half), () => r()));
    for (let i = 0; i < 600 && (await ingestBytes()) < 30 << 20; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(await ingestBytes()).toBeGreaterThanOrEqual(30 << 20);
    await daemon.kill9();
    cli.stdin.destroy();
    await cliExit;

    await daemon.launch();
    const images = await daemon.tsctr(['images']);
    expect(images.exitCode).toBe(0);
    expect(images.stdout).not.toContain('big');
    expect(await ingestBytes()).toBe(0);
    const prune = await daemon.tsctr(['image', 'prune', '-a', '-f']);
    expect(prune.exitCode).toBe(0);
    expect(await readdir(blobsDir())).toEqual([]);
    expect(await snapshots()).toEqual([]);

    const load = await daemon.tsctr(['load', '-i', archive]);
    expect(load.stdout).toBe('Loaded image: big:1');
    const run = await daemon.tsctr(['run', '--rm', 'big:1', 'ls', '-l', '/random.bin']);
    expect(run.stdout).toContain(String(100 << 20));

    // Deleting the image really frees its blobs and layers.
    const rmi = await daemon.tsctr(['rmi', 'big:1']);
    expect(rmi.exitCode).toBe(0);
    await daemon.tsctr(['image', 'prune', '-a', '-f']);
    expect(await readdir(blobsDir())).toEqual([]);
    expect(await snapshots()).toEqual([]);
  });

  it('kill -9 right after a load: blobs not yet synced are verified at start, a torn one takes its image', async () => {
    const layerDir = join(work, 'unsynced');
    await mkdir(layerDir);
    await execa('head', ['-c', String(4 << 20), '/dev/urandom'], {
      stdout: { file: join(layerDir, 'random.bin') },
    });
    await execa('tar', ['-C', layerDir, '-cf', `${layerDir}.tar`, '.']);
    const layer = await sha256File(`${layerDir}.tar`);
    const archive = await makeDockerArchive(
      work,
      [await busyboxRootfsTar(), `${layerDir}.tar`],
      'unsynced:1',
      ['sh'],
    );
    const unsynced = () => readdir(join(daemon.dataRoot, 'content/unsynced')).catch(() => []);

    // Intact: the load's blobs (published before their background sync) pass the check and stay.
    expect((await daemon.tsctr(['load', '-i', archive])).stdout).toBe('Loaded image: unsynced:1');
    expect(await unsynced()).toContain(layer.slice(7));
    await daemon.kill9();
    await daemon.launch();
    expect(await unsynced()).toEqual([]);
    expect((await daemon.tsctr(['images', '-q', 'unsynced:1'])).stdout).not.toBe('');
    await daemon.tsctr(['rmi', 'unsynced:1']);

    // Torn, as a crash before the sync can leave it: the blob and the image that needs it go.
    expect((await daemon.tsctr(['load', '-i', archive])).stdout).toBe('Loaded image: unsynced:1');
    await daemon.kill9();
    await writeFile(join(blobsDir(), layer.slice(7)), Buffer.alloc(8192));
    await daemon.launch();
    expect(await unsynced()).toEqual([]);
    expect((await daemon.tsctr(['images', '-q', 'unsynced:1'])).stdout).toBe('');
    expect(await readdir(blobsDir())).not.toContain(layer.slice(7));
    expect(await readFile(daemon.logPath, 'utf8')).toContain(`removed blob ${layer}`);
    // Loaded again, it works.
    expect((await daemon.tsctr(['load', '-i', archive])).stdout).toBe('Loaded image: unsynced:1');
    const run = await daemon.tsctr([
      'run',
      '--rm',
      '--network',
      'none',
      'unsynced:1',
      'ls',
      '-l',
      '/random.bin',
    ]);
    expect(run.stdout).toContain(String(4 << 20));
    await daemon.tsctr(['rmi', 'unsynced:1']);
  });
});

/** Docker's layer chain IDs (`Deleted: sha256:…` lines of rmi name layers by these), bottom first. */
function chainIdsOf(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const below = out.at(-1);
    out.push(below ? `sha256:${createHash('sha256').update(`${below} ${d}`).digest('hex')}` : d);
  }
  return out;
}

describe.skipIf(skip !== undefined)('rmi and images by reference, with moby’s rules', () => {
  const work = useTempDir(`tsctr-rmi-${process.pid}-`);
  const daemon = useDaemon();
  const short = (id: string) => id.slice(7, 19);
  /** `REPOSITORY:TAG` of every row `docker images` prints (with extra args). */
  const rows = async (...args: string[]) =>
    (await daemon.docker(['images', '--format', '{{.Repository}}:{{.Tag}}', ...args])).stdout
      .split('\n')
      .filter(Boolean)
      .sort();

  it('rmi -f of one tag untags only that tag; by ID it needs -f while tags span repositories', async () => {
    for (const cli of ['docker', 'tsctr'] as const) {
      expect((await daemon.docker(['tag', 'busybox', 'x/y:v1'])).exitCode).toBe(0);
      const forced = await daemon[cli](['rmi', '-f', 'x/y:v1']);
      expect(forced.stdout, cli).toBe('Untagged: x/y:v1');
      expect(forced.exitCode).toBe(0);
      expect(await rows()).toEqual(['busybox:latest']);
    }
    await daemon.docker(['tag', 'busybox', 'x/y:v1']);
    for (const cli of ['docker', 'tsctr'] as const) {
      const byId = await daemon[cli](['rmi', short(daemon.busyboxId)]);
      expect(byId.exitCode).toBe(1);
      expect(byId.stderr, cli).toBe(
        `Error response from daemon: conflict: unable to delete ${short(daemon.busyboxId)} (must be forced) - image is referenced in multiple repositories`,
      );
    }
    // Untagging by name without -f is fine while another tag remains.
    expect((await daemon.docker(['rmi', 'x/y:v1'])).stdout).toBe('Untagged: x/y:v1');
    expect(await rows()).toEqual(['busybox:latest']);
    for (const cli of ['docker', 'tsctr'] as const) {
      const missing = await daemon[cli](['rmi', 'x/y']);
      expect(missing.stderr, cli).toBe('Error response from daemon: No such image: x/y:latest');
      expect(missing.exitCode, cli).toBe(1);
      // -f: a missing image is reported, but is no failure.
      const forced = await daemon[cli](['rmi', '-f', 'x/y', 'x/y:v2']);
      expect(forced.stderr, cli).toBe(
        'Error response from daemon: No such image: x/y:latest\nError response from daemon: No such image: x/y:v2',
      );
      expect(forced.exitCode, cli).toBe(0);
    }
  });

  it('rmi by ID with -f removes every tag and the image', async () => {
    const id = (await daemon.tsctr(['import', '-c', 'LABEL k=1', await busyboxRootfsTar(), 'one:1'])).stdout;
    await daemon.docker(['tag', 'one:1', 'two:2']);
    const r = await daemon.docker(['rmi', '-f', short(id)]);
    expect(r.stderr).toBe('');
    // The layer is busybox's too, so only the image goes.
    expect(r.stdout).toBe(`Untagged: one:1\nUntagged: two:2\nDeleted: ${id}`);
    expect(await rows()).toEqual(['busybox:latest']);
  });

  it("refuses to delete an image containers use, with Docker's messages", async () => {
    const id = (await daemon.tsctr(['import', '-c', 'LABEL k=2', await busyboxRootfsTar(), 'solo:1'])).stdout;
    const c = (await daemon.docker(['create', 'solo:1', 'sleep', '60'])).stdout.trim();
    const byName = await daemon.docker(['rmi', 'solo:1']);
    expect(byName.stderr).toBe(
      `Error response from daemon: conflict: unable to remove repository reference "solo:1" (must force) - container ${c.slice(0, 12)} is using its referenced image ${short(id)}`,
    );
    for (const cli of ['docker', 'tsctr'] as const) {
      const byId = await daemon[cli](['rmi', short(id)]);
      expect(byId.stderr, cli).toBe(
        `Error response from daemon: conflict: unable to delete ${short(id)} (must be forced) - image is being used by stopped container ${c.slice(0, 12)}`,
      );
    }
    expect((await daemon.docker(['start', c])).exitCode).toBe(0);
    const running = await daemon.docker(['rmi', '-f', short(id)]);
    expect(running.stderr).toBe(
      `Error response from daemon: conflict: unable to delete ${short(id)} (cannot be forced) - image is being used by running container ${c.slice(0, 12)}`,
    );
    // By name with -f the tag goes; the image stays for its running container.
    expect((await daemon.docker(['rmi', '-f', 'solo:1'])).stdout).toBe('Untagged: solo:1');
    expect((await daemon.docker(['image', 'inspect', '-f', '{{.Id}}', short(id)])).stdout).toBe(id);
    await daemon.docker(['rm', '-f', c]);
    expect((await daemon.docker(['rmi', short(id)])).stdout).toBe(`Deleted: ${id}`);
  });

  it('rmi of a built image deletes its untagged parents and their layers; --no-prune keeps them', async () => {
    const dir = join(work, 'ctx');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'Dockerfile'),
      'FROM busybox\nRUN echo one > /one\nRUN echo two > /two\nCMD ["sh"]\n',
    );
    const build = async () => {
      const b = await daemon.tsctr(['build', '-q', '-t', 'built:1', dir]);
      expect(b.exitCode, b.stderr).toBe(0);
      // history -q: the local images from the top down, the last one busybox.
      const ids = (await daemon.docker(['history', '-q', '--no-trunc', 'built:1'])).stdout.split('\n');
      expect(ids.at(-1)).toBe(daemon.busyboxId);
      const diffIds = JSON.parse(
        (await daemon.docker(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'built:1'])).stdout,
      ) as string[];
      return { ids, chain: chainIdsOf(diffIds) };
    };
    const first = await build();
    expect(first.ids).toHaveLength(4);
    const [top, two, one] = first.ids as [string, string, string];
    const rmi = await daemon.docker(['rmi', 'built:1']);
    expect(rmi.stderr).toBe('');
    // The CMD step made no layer: layer `two` goes with the image that added it.
    expect(rmi.stdout).toBe(
      [
        'Untagged: built:1',
        `Deleted: ${top}`,
        `Deleted: ${two}`,
        `Deleted: ${first.chain[2]}`,
        `Deleted: ${one}`,
        `Deleted: ${first.chain[1]}`,
      ].join('\n'),
    );
    const all = (await daemon.docker(['images', '-a', '-q', '--no-trunc'])).stdout.split('\n');
    expect(all).toEqual([daemon.busyboxId]);

    const second = await build();
    const kept = await daemon.tsctr(['rmi', '--no-prune', 'built:1']);
    expect(kept.stdout).toBe(`Untagged: built:1\nDeleted: ${second.ids[0]}`);
    const left = (await daemon.docker(['images', '-a', '-q', '--no-trunc'])).stdout.split('\n').sort();
    expect(left).toEqual([daemon.busyboxId, second.ids[1], second.ids[2]].sort());
    // Dangling means untagged and childless: the upper parent, not the one below it (even with -a).
    for (const all of [[], ['-a']])
      expect(
        (await daemon.docker(['images', ...all, '-q', '--no-trunc', '--filter', 'dangling=true'])).stdout,
      ).toBe(second.ids[1]);
    expect((await daemon.docker(['images', '-q', '--no-trunc', '--filter', 'dangling=false'])).stdout).toBe(
      daemon.busyboxId,
    );
    // The parents are dangling now: an rmi of the lower one is refused (it has a child)...
    const child = await daemon.docker(['rmi', second.ids[2]!]);
    expect(child.stderr).toBe(
      `Error response from daemon: conflict: unable to delete ${short(second.ids[2]!)} (cannot be forced) - image has dependent child images`,
    );
    // ...and a prune takes both.
    expect((await daemon.docker(['image', 'prune', '-f'])).exitCode).toBe(0);
    expect((await daemon.docker(['images', '-a', '-q', '--no-trunc'])).stdout).toBe(daemon.busyboxId);
  });

  it('images REPO[:TAG] lists only the matching references, one row each', async () => {
    await daemon.docker(['tag', 'busybox', 'x/y:v1']);
    await daemon.docker(['tag', 'busybox', 'x/y:v2']);
    await daemon.docker(['tag', 'busybox', 'x/z:v1']);
    const keys: Record<string, string[]> = {};
    for (const cli of ['docker', 'tsctr'] as const) {
      const list = async (...args: string[]) =>
        (await daemon[cli](['images', ...args])).stdout.split('\n').filter(Boolean).sort();
      expect(await list('--format', '{{.Repository}}:{{.Tag}}', 'x/y'), cli).toEqual(['x/y:v1', 'x/y:v2']);
      expect(await list('--format', '{{.Repository}}:{{.Tag}}', 'x/y:v2'), cli).toEqual(['x/y:v2']);
      expect(await list('--format', '{{.Repository}}:{{.Tag}}', 'busybox'), cli).toEqual(['busybox:latest']);
      expect(await list('-q', 'x/y'), cli).toEqual([short(daemon.busyboxId), short(daemon.busyboxId)]);
      expect(await list('-q', 'nothing'), cli).toEqual([]);
      expect(await list('--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=x/*:v1'), cli).toEqual(
        ['x/y:v1', 'x/z:v1'],
      );
      expect(await list('--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=*/y'), cli).toEqual([
        'x/y:v1',
        'x/y:v2',
      ]);
      const table = (await daemon[cli](['images', 'x/z'])).stdout.split('\n');
      expect(table, cli).toHaveLength(2);
      expect(table[1]).toMatch(new RegExp(`^x/z\\s+v1\\s+${short(daemon.busyboxId)}\\s+`));
      const json = JSON.parse((await daemon[cli](['images', '--format', '{{json .}}', 'x/z'])).stdout);
      expect(json, cli).toMatchObject({ Repository: 'x/z', Tag: 'v1', ID: short(daemon.busyboxId) });
      keys[cli] = Object.keys(json).sort();
    }
    expect(keys.tsctr).toEqual(keys.docker);
    await daemon.docker(['rmi', 'x/y:v1', 'x/y:v2', 'x/z:v1']);
  });
});

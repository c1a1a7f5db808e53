import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { e2eSkip, useDaemon, useTempDir } from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkip('hostile archive tests');

/** One tar entry the test writes by hand (the hostile ones no tar tool would make). */
interface Entry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'link';
  body?: string | Buffer;
  linkname?: string;
  mode?: number;
  /** A size field that lies (the body is cut short). */
  claimedSize?: number;
}

function header(e: Entry, size: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number) => h.write(s, off, len, 'utf8');
  const octal = (n: number, off: number, len: number) =>
    put(`${n.toString(8).padStart(len - 1, '0')}\0`, off, len);
  put(e.name, 0, 100);
  octal(e.mode ?? (e.type === 'dir' ? 0o755 : 0o644), 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  if (size >= 8 ** 11) {
    // GNU base-256 for sizes beyond 8 GiB.
    h[124] = 0x80;
    let n = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(n & 0xffn);
      n >>= 8n;
    }
  } else octal(size, 124, 12);
  octal(1_700_000_000, 136, 12);
  h.fill(0x20, 148, 156);
  h[156] = { file: 0x30, link: 0x31, symlink: 0x32, dir: 0x35 }[e.type ?? 'file'];
  if (e.linkname) put(e.linkname, 157, 100);
  put('ustar\x0000', 257, 8);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

function makeTar(entries: Entry[], options: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    parts.push(header(e, e.claimedSize ?? body.length));
    if (body.length > 0) parts.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  if (options.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

interface Response {
  status: number;
  body: string;
}

function call(socketPath: string, method: string, path: string, body?: Buffer, type = 'application/x-tar') {
  return new Promise<Response>((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: body ? { 'Content-Type': type, 'Content-Length': body.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The `error` of a build's JSON message stream, or undefined. */
function streamError(body: string): string | undefined {
  for (const line of body.split('\n')) {
    if (line.trim() === '') continue;
    const msg = JSON.parse(line) as { error?: string };
    if (msg.error) return msg.error;
  }
  return undefined;
}

describe.skipIf(skip !== undefined)('hostile, broken and benign archives', () => {
  const marker = `tsctr-hostile-${process.pid}-${randomBytes(4).toString('hex')}`;
  /** Host directories the hostile archives aim at; nothing may ever appear in them. */
  const outside = useTempDir(`${marker}-`);
  const daemon = useDaemon();
  let containerId: string;

  beforeAll(async () => {
    await mkdir(join(outside, 'secrets'));
    await writeFile(join(outside, 'secrets', 'secret'), `${marker}-secret\n`);
    const created = await call(
      daemon.socketPath,
      'POST',
      '/containers/create',
      Buffer.from(JSON.stringify({ Image: 'busybox', Cmd: ['true'] })),
      'application/json',
    );
    containerId = (JSON.parse(created.body) as { Id: string }).Id;
  }, 120_000);

  afterEach(async () => {
    // Nothing landed outside: not in the target directory, not anywhere under /tmp by name.
    expect((await readdir(outside)).sort()).toEqual(['secrets']);
    expect(await readdir(join(outside, 'secrets'))).toEqual(['secret']);
    const found = await execa('find', ['/tmp', '-maxdepth', '3', '-name', `*${marker}-planted*`], {
      reject: false,
    });
    expect(found.stdout).toBe('');
    // The daemon is still there, and no upload stayed behind half-made.
    expect((await call(daemon.socketPath, 'GET', '/_ping')).body).toBe('OK');
    expect(await readdir(join(daemon.dataRoot, 'content', 'ingest'))).toEqual([]);
    expect(
      existsSync(join(daemon.dataRoot, 'tmp')) ? await readdir(join(daemon.dataRoot, 'tmp')) : [],
    ).toEqual([]);
  });

  const build = (entries: Entry[], query = '') =>
    call(daemon.socketPath, 'POST', `/build?rm=1${query}`, makeTar(entries));
  const dockerfile = (text: string): Entry => ({ name: 'Dockerfile', body: text });

  it('a build context cannot write through an absolute symlink', async () => {
    const r = await build([
      dockerfile('FROM busybox\nLABEL a=b\n'),
      { name: 'a', type: 'symlink', linkname: outside },
      { name: 'a/x', body: 'x' },
      { name: `a/${marker}-planted`, body: 'x' },
    ]);
    expect(r.status).toBe(200);
    expect(streamError(r.body)).toBeUndefined();
  });

  it('a build context cannot write through a relative symlink', async () => {
    const r = await build([
      dockerfile('FROM busybox\nLABEL a=b\n'),
      { name: 'b', type: 'symlink', linkname: `../../../../../../../..${outside}` },
      { name: 'b/y', body: 'y' },
      { name: 'c', type: 'dir' },
      { name: 'c/d', type: 'symlink', linkname: '../../../../../../../../tmp' },
      { name: `c/d/${marker}-planted`, body: 'y' },
    ]);
    expect(r.status).toBe(200);
    expect(streamError(r.body)).toBeUndefined();
  });

  it('a gzip-compressed build context is resolved the same way', async () => {
    const tar = makeTar([
      dockerfile('FROM busybox\nLABEL a=b\n'),
      { name: 'g', type: 'symlink', linkname: outside },
      { name: 'g/z', body: 'z' },
    ]);
    const r = await call(daemon.socketPath, 'POST', '/build?rm=1', gzipSync(tar));
    expect(r.status).toBe(200);
    expect(streamError(r.body)).toBeUndefined();
  });

  it('COPY through a context symlink to a host directory does not read the host', async () => {
    const r = await build([
      dockerfile('FROM busybox\nCOPY s/secret /\n'),
      { name: 's', type: 'symlink', linkname: join(outside, 'secrets') },
    ]);
    expect(r.status).toBe(200);
    expect(streamError(r.body)).toMatch(/file not found in build context or excluded by \.dockerignore/);
    expect(r.body).not.toContain(outside);
  });

  it('a hard link to a host file is refused with a 400 that names no host path', async () => {
    const r = await build([
      dockerfile('FROM busybox\nCOPY h /\n'),
      { name: 'h', type: 'link', linkname: join(outside, 'secrets', 'secret') },
    ]);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toMatch(/hard link to .*: no such file or directory/);
    expect(r.body).not.toContain(daemon.dir);
  });

  it('a hard link through a context symlink stays inside the context', async () => {
    const r = await build([
      dockerfile('FROM busybox\nCOPY h /\n'),
      { name: 's', type: 'symlink', linkname: join(outside, 'secrets') },
      { name: 'h', type: 'link', linkname: 's/secret' },
    ]);
    expect(r.status).toBe(400);
    expect(r.body).not.toContain(`${marker}-secret`);
  });

  it('a build context whose entry claims 100 GiB and is cut short is a 400, and the daemon stays up', async () => {
    const tar = makeTar(
      [dockerfile('FROM busybox\n'), { name: 'big', body: 'only a little', claimedSize: 100 * 2 ** 30 }],
      { end: false },
    );
    const r = await call(daemon.socketPath, 'POST', '/build?rm=1', tar);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toBe('unexpected EOF');
    expect((await call(daemon.socketPath, 'GET', '/_ping')).body).toBe('OK');
    expect(await readdir(join(daemon.dataRoot, 'tmp'))).toEqual([]);
  });

  it('an entry named ../x is refused', async () => {
    const r = await build([dockerfile('FROM busybox\n'), { name: `../../${marker}-planted`, body: 'x' }]);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toMatch(/path escapes the root/);
  });

  it('ADD of a hostile local archive unpacks inside the image only', async () => {
    const evil = makeTar([
      { name: 'l', type: 'symlink', linkname: outside },
      { name: `l/${marker}-planted`, body: 'x' },
      { name: 'r', type: 'symlink', linkname: '../../../../../../../../tmp' },
      { name: `r/${marker}-planted`, body: 'x' },
      { name: 'h', type: 'link', linkname: 'r/../etc/passwd' },
    ]);
    const r = await build([dockerfile('FROM busybox\nADD evil.tar /x/\n'), { name: 'evil.tar', body: evil }]);
    expect(r.status).toBe(200);
    // The hard link named a file that is not in the archive's root: refused, in the stream.
    expect(streamError(r.body)).toMatch(/ADD failed: unpacking evil.tar: .*hard link to .*: no such file/);
    expect(r.body).not.toContain(daemon.dir);
  });

  it('COPY of a path outside the context fails with Docker wording', async () => {
    const r = await build([dockerfile('FROM busybox\nCOPY ../secret /\n')]);
    expect(streamError(r.body)).toBe('COPY failed: forbidden path outside the build context: ../secret ()');
  });

  it('a context with a dangling-symlink directory builds (created inside the context)', async () => {
    const r = await build([
      dockerfile('FROM busybox\nCOPY d/f /f\n'),
      { name: 'd', type: 'symlink', linkname: 'nowhere/deeper' },
      { name: 'd/f', body: 'f' },
    ]);
    expect(r.status).toBe(200);
    expect(streamError(r.body)).toBeUndefined();
  });

  it('JSON query values of null count as absent (docker CLI 20.10 sends ulimits=null); bad JSON is a 400', async () => {
    const ok = await build(
      [dockerfile('FROM busybox\nLABEL x=y\n')],
      '&ulimits=null&buildargs=null&labels=null&cachefrom=null',
    );
    expect(ok.status).toBe(200);
    expect(streamError(ok.body)).toBeUndefined();
    const bad = await build([dockerfile('FROM busybox\n')], '&ulimits=%5B1');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).message).toBe('invalid ulimits value: [1');
  });

  it('a context that is not a tar is a 400', async () => {
    const r = await call(daemon.socketPath, 'POST', '/build', randomBytes(4096));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toBe('archive/tar: invalid tar header');
  });

  it('hard links to files, to symlinks and to entries in directories come out link for link', async () => {
    const r = await build(
      [
        dockerfile('FROM busybox\nCOPY layer1/ /out/\n'),
        { name: 'all', type: 'dir' },
        { name: 'all/bin', type: 'dir' },
        { name: 'all/bin/tool', body: 'binary', mode: 0o755 },
        { name: 'all/bin/sh', type: 'symlink', linkname: 'tool' },
        { name: 'layer1', type: 'dir' },
        { name: 'layer1/bin', type: 'dir' },
        { name: 'layer1/bin/tool', type: 'link', linkname: 'all/bin/tool' },
        { name: 'layer1/bin/sh', type: 'link', linkname: 'all/bin/sh' },
        { name: 'layer1/bin/tool2', type: 'link', linkname: 'all/bin/tool' },
      ],
      '&t=links:test',
    );
    expect(streamError(r.body)).toBeUndefined();
    const run = await daemon.tsctr([
      'run',
      '--rm',
      'links:test',
      'sh',
      '-c',
      'cd /out/bin && stat -c "%n %F %h %i" sh tool tool2 && readlink sh',
    ]);
    expect(run.exitCode).toBe(0);
    const lines = run.stdout.trim().split('\n');
    const [sh, tool, tool2] = lines.map((l) => l.split(' '));
    expect(sh!.slice(0, 3)).toEqual(['sh', 'symbolic', 'link']);
    expect(tool!.slice(0, 4)).toEqual(['tool', 'regular', 'file', '2']);
    expect(tool2![4]).toBe(tool![4]);
    expect(lines[3]).toBe('tool');
  }, 60_000);

  it('COPY from the spooled context makes the same layers as from the unpacked context', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 123);
    const context: Entry[] = [
      dockerfile(
        // Into `/` only: a directory the step creates would carry the build's time.
        'FROM busybox\nCOPY . /\nCOPY all/bin/tool big.bin empty layer1/bin/sh /\n',
      ),
      { name: '.dockerignore', body: 'all/skip*\ntwice\n' },
      { name: 'all', type: 'dir', mode: 0o750 },
      { name: 'all/bin', type: 'dir' },
      { name: 'all/bin/tool', body: 'binary', mode: 0o755 },
      { name: 'all/bin/sh', type: 'symlink', linkname: 'tool' },
      { name: 'all/skipped', body: 'ignored' },
      { name: 'all/deep', type: 'dir', mode: 0o700 },
      { name: 'all/deep/er', type: 'dir' },
      { name: 'all/deep/er/x', body: 'x', mode: 0o4755 },
      { name: 'all/deep/er/abs', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'big.bin', body: big },
      { name: 'empty', body: '' },
      { name: 'layer1', type: 'dir' },
      { name: 'layer1/bin', type: 'dir' },
      { name: 'layer1/bin/tool', type: 'link', linkname: 'all/bin/tool' },
      { name: 'layer1/bin/sh', type: 'link', linkname: 'all/bin/sh' },
      { name: 'layer1/bin/tool2', type: 'link', linkname: 'all/bin/tool' },
      { name: 'layer1/x', type: 'link', linkname: 'all/deep/er/x' },
    ];
    const layersOf = async (entries: Entry[], tag: string) => {
      const r = await build(entries, `&nocache=1&t=${tag}`);
      expect(streamError(r.body)).toBeUndefined();
      const inspect = await call(daemon.socketPath, 'GET', `/images/${tag}/json`);
      return (JSON.parse(inspect.body) as { RootFS: { Layers: string[] } }).RootFS.Layers;
    };
    const spooled = await layersOf(context, 'spooled:test');
    // A name given twice is something the index cannot predict: that context is unpacked whole
    // and copied from disk (the path every context took before COPY read the spool).
    const unpacked = await layersOf(
      [...context, { name: 'twice', body: 'a' }, { name: 'twice', body: 'b' }],
      'unpacked:test',
    );
    expect(spooled).toHaveLength(3);
    expect(spooled).toEqual(unpacked);
    const run = await daemon.tsctr([
      'run',
      '--rm',
      'spooled:test',
      'sh',
      '-c',
      'cd / && stat -c "%n %F %h %a" layer1/bin/tool2 layer1/x all all/deep/er/x empty big.bin && stat -c "%n %F" layer1/bin/sh sh && ls all && md5sum big.bin',
    ]);
    expect(run.stdout.trim().split('\n')).toEqual([
      'layer1/bin/tool2 regular file 3 755',
      'layer1/x regular file 2 4755',
      'all directory 4 750',
      'all/deep/er/x regular file 2 4755',
      'empty regular empty file 1 644',
      'big.bin regular file 1 644',
      'layer1/bin/sh symbolic link',
      'sh symbolic link',
      'bin',
      'deep',
      `${createHash('md5').update(big).digest('hex')}  big.bin`,
    ]);
  }, 120_000);

  it("a volume's copy-up and a working directory do not follow an image symlink out to the host", async () => {
    const r = await build(
      [
        dockerfile('FROM busybox\nCOPY data /data\n'),
        { name: 'data', type: 'symlink', linkname: join(outside, 'secrets') },
      ],
      '&t=copyup:test',
    );
    expect(streamError(r.body)).toBeUndefined();
    // The runtime may refuse the dangling mount point; the copy-up happens before it either way.
    await daemon.tsctr(['run', '--rm', '-v', `${marker}-vol:/data`, 'copyup:test', 'true']);
    const list = await daemon.tsctr(['run', '--rm', '-v', `${marker}-vol:/v`, 'busybox', 'ls', '-A', '/v']);
    expect(list.exitCode).toBe(0);
    expect(list.stdout).not.toContain('secret');
    await daemon.tsctr(['volume', 'rm', `${marker}-vol`]);
    // A working directory through the same symlink is made inside the rootfs, not on the host.
    await daemon.tsctr(['run', '--rm', '-w', `/data/${marker}-planted`, 'copyup:test', 'true']);
  }, 60_000);

  it('PUT /containers/ID/archive: a hard link to a missing target is a 400 without host paths', async () => {
    const r = await call(
      daemon.socketPath,
      'PUT',
      `/containers/${containerId}/archive?path=/tmp`,
      makeTar([{ name: 'h', type: 'link', linkname: 'missing' }]),
    );
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toMatch(/hard link to .*missing: no such file or directory/);
    expect(r.body).not.toContain(daemon.dataRoot);
  });

  it('PUT /containers/ID/archive cannot write through a symlink it brings', async () => {
    const r = await call(
      daemon.socketPath,
      'PUT',
      `/containers/${containerId}/archive?path=/tmp`,
      makeTar([
        { name: 'l', type: 'symlink', linkname: outside },
        { name: 'l/planted', body: 'x' },
        { name: 'r', type: 'symlink', linkname: `../../../../../../../../..${outside}` },
        { name: 'r/planted', body: 'x' },
      ]),
    );
    expect(r.status).toBe(200);
  });

  const blobs = () => readdir(join(daemon.dataRoot, 'content', 'blobs', 'sha256')).then((l) => l.sort());

  it('import of random bytes is a 400 and leaves no blob behind', async () => {
    const before = await blobs();
    const r = await call(
      daemon.socketPath,
      'POST',
      '/images/create?fromSrc=-&repo=junk',
      randomBytes(64 * 1024),
    );
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/archive\/tar: invalid tar header/);
    expect(await blobs()).toEqual(before);
  });

  it('load of random bytes fails in the stream, as Docker 20.10 does, and leaves no blob behind', async () => {
    const before = await blobs();
    const r = await call(daemon.socketPath, 'POST', '/images/load?quiet=1', randomBytes(64 * 1024));
    // moby writes a load error into the JSON stream (docker-py's ImageLoadError relies on it).
    expect(r.status).toBe(200);
    expect(streamError(r.body)).toBe('archive/tar: invalid tar header');
    expect(await blobs()).toEqual(before);
  });

  it('import of a layer whose entry claims 100 GiB and is cut short is a 400', async () => {
    const before = await blobs();
    const tar = makeTar([{ name: 'big', body: 'only a little', claimedSize: 100 * 2 ** 30 }], { end: false });
    const r = await call(daemon.socketPath, 'POST', '/images/create?fromSrc=-&repo=junk', tar);
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/unexpected EOF/);
    expect(await blobs()).toEqual(before);
  });

  it('a context larger than the free disk fails with "no space left on device" and leaves nothing', async () => {
    // The daemon receives contexts in <data-root>/tmp: a 16 MiB tmpfs there is a full disk.
    const tmp = join(daemon.dataRoot, 'tmp');
    await mkdir(tmp, { recursive: true });
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tsctr-test-full', tmp]);
    try {
      const r = await build([
        dockerfile('FROM busybox\n'),
        { name: 'big', body: Buffer.alloc(32 * 2 ** 20, 1) },
      ]);
      expect(r.status).toBe(500);
      expect(JSON.parse(r.body).message).toBe('no space left on device');
      expect(await readdir(tmp)).toEqual([]);
    } finally {
      await execa('umount', [tmp]);
    }
  });

  it('a malformed URL escape is a 400', async () => {
    const r = await call(daemon.socketPath, 'GET', '/containers/%zz/json');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toBe('invalid URL escape "%zz"');
  });
});

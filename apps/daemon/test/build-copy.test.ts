import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readFile, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { e2eSkip, useDaemon, useTempDir } from '@ts-container/test-harness';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkip('build COPY layer tests');

/**
 * COPY of a context tree many files large: the files written from the spool (small ones with
 * synchronous calls, large ones streamed), the step's snapshot committed as its layer where it
 * lies. What a container of the image sees must be the context, entry for entry, and the layers
 * must be those the unpacked-context path makes.
 */

/** Files in one directory: more than the copy writes between two turns of the event loop. */
const MANY = 300;

function post(socketPath: string, path: string, body: Buffer) {
  return new Promise<string>((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method: 'POST',
        path,
        headers: { 'Content-Type': 'application/x-tar', 'Content-Length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** `path|raw mode|uid|gid|mtime|links|size` of every entry below `dir` (relative names). */
async function listHost(dir: string, owner: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const st = await lstat(join(dir, path));
    const size = st.isDirectory() ? '-' : String(st.size);
    const mtime = Math.floor(st.mtimeMs / 1000);
    // Directories' sizes and link counts are the filesystem's own.
    const links = st.isDirectory() ? '-' : String(st.nlink);
    out.push(`${path}|${st.mode.toString(16)}|${owner}|${mtime}|${links}|${size}`);
    if (st.isDirectory()) out.push(...(await listHost(dir, owner, path)));
  }
  return out;
}

describe.skipIf(skip !== undefined)('COPY of a large context tree', () => {
  const dir = useTempDir('tsctr-build-copy-');
  const daemon = useDaemon();
  const context = () => join(dir, 'context');
  const tree = () => join(context(), 'tree');
  const big = randomBytes(600 * 1024 + 7);

  beforeAll(async () => {
    await mkdir(join(tree(), 'c-many'), { recursive: true });
    for (let i = 0; i < MANY; i++) {
      const file = join(tree(), 'c-many', `f${String(i).padStart(3, '0')}`);
      await writeFile(file, `${i} ${'x'.repeat(i)}\n`, { mode: i % 3 === 0 ? 0o600 : 0o644 });
      await utimes(file, 1_600_000_000 + i, 1_600_000_000 + i);
    }
    await mkdir(join(tree(), 'c-sub/deep'), { recursive: true, mode: 0o750 });
    await writeFile(join(tree(), 'c-big.bin'), big);
    await writeFile(join(tree(), 'c-empty'), '');
    await writeFile(join(tree(), 'c-sub/deep/suid'), '#!/bin/sh\n', { mode: 0o4755 });
    await link(join(tree(), 'c-many/f007'), join(tree(), 'c-sub/hard'));
    await link(join(tree(), 'c-big.bin'), join(tree(), 'c-sub/deep/big-again'));
    await symlink('../c-many/f001', join(tree(), 'c-sub/sym'));
    await symlink('/nowhere', join(tree(), 'c-sub/dangling'));
    await utimes(join(tree(), 'c-sub/deep'), 1_500_000_000, 1_500_000_000);
    await utimes(join(tree(), 'c-sub'), 1_500_000_001, 1_500_000_001);
    await utimes(join(tree(), 'c-many'), 1_500_000_002, 1_500_000_002);
    // Into `/`: a directory the step creates would carry the build's time (and so would its
    // layer); `/owned` is one, checked by what the container sees.
    await writeFile(
      join(context(), 'Dockerfile'),
      'FROM busybox\nCOPY tree /\nCOPY --chown=7:8 tree /owned\n',
    );
  });

  const layersOf = async (tag: string) => {
    const inspect = await daemon.tsctr(['image', 'inspect', tag]);
    expect(inspect.exitCode).toBe(0);
    return (JSON.parse(inspect.stdout) as Array<{ RootFS: { Layers: string[] } }>)[0]!.RootFS.Layers;
  };

  it('keeps every mode, owner, time, hard link and byte, and makes the unpacked path’s layers', async () => {
    const built = await daemon.tsctr(['build', '--no-cache', '-q', '-t', 'copy-tree:spooled', context()]);
    expect(built.stderr).toBe('');
    expect(built.exitCode).toBe(0);

    const names = (await listHost(tree(), '')).map((l) => l.split('|')[0]!);
    const stat = async (prefix: string) => {
      const run = await daemon.tsctr(
        [
          'run',
          '--rm',
          '-i',
          'copy-tree:spooled',
          'sh',
          '-c',
          `cd ${prefix} && xargs stat -c '%n|%f|%u|%g|%Y|%h|%s|%F'`,
        ],
        { input: names.join('\n') },
      );
      expect(run.stderr).toBe('');
      return run.stdout
        .trim()
        .split('\n')
        .map((l) => {
          const f = l.split('|');
          const isDir = f[7] === 'directory';
          return [f[0], f[1], `${f[2]}|${f[3]}`, f[4], isDir ? '-' : f[5], isDir ? '-' : f[6]].join('|');
        });
    };
    expect(await stat('/')).toEqual(await listHost(tree(), '0|0'));
    expect(await stat('/owned')).toEqual(await listHost(tree(), '7|8'));

    const sums = await daemon.tsctr([
      'run',
      '--rm',
      'copy-tree:spooled',
      'sh',
      '-c',
      'md5sum /c-big.bin /owned/c-sub/deep/big-again && cat /c-sub/hard /owned/c-many/f299 | md5sum',
    ]);
    const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
    expect(sums.stdout.trim().split('\n')).toEqual([
      `${md5(big)}  /c-big.bin`,
      `${md5(big)}  /owned/c-sub/deep/big-again`,
      `${md5(`7 ${'x'.repeat(7)}\n299 ${'x'.repeat(299)}\n`)}  -`,
    ]);

    // The same context with one name given twice (outside what is copied) is one the context
    // index cannot predict: it is unpacked whole and copied from disk, as every context was
    // before COPY read the spool. The layer COPY makes into `/` must be the same.
    const archive = join(dir, 'context.tar');
    await execa('tar', ['-C', context(), '-cf', archive, '.']);
    await writeFile(join(dir, 'twice'), 'a');
    await execa('tar', ['-C', dir, '-rf', archive, 'twice']);
    await execa('tar', ['-C', dir, '-rf', archive, 'twice']);
    const body = await post(
      daemon.socketPath,
      '/build?rm=1&nocache=1&t=copy-tree:unpacked',
      await readFile(archive),
    );
    expect(body).not.toContain('"error"');
    const spooled = await layersOf('copy-tree:spooled');
    const unpacked = await layersOf('copy-tree:unpacked');
    expect(spooled).toHaveLength(3);
    expect(unpacked.slice(0, 2)).toEqual(spooled.slice(0, 2));
  }, 180_000);

  it('replaces a file of the parent image, and refuses to replace one of its directories', async () => {
    const over = join(dir, 'over');
    await mkdir(join(over, 'files/etc'), { recursive: true });
    for (let i = 0; i < MANY; i++) await writeFile(join(over, 'files/etc', `o${i}`), String(i));
    await writeFile(join(over, 'files/etc/group'), 'root:x:0:\nnew:x:77:\n');
    await writeFile(join(over, 'Dockerfile'), 'FROM busybox\nCOPY files /\n');
    const built = await daemon.tsctr(['build', '--no-cache', '-q', '-t', 'copy-tree:over', over]);
    expect(built.exitCode).toBe(0);
    const run = await daemon.tsctr(['run', '--rm', 'copy-tree:over', 'sh', '-c', 'cat /etc/group /etc/o299']);
    expect(run.stdout).toBe('root:x:0:\nnew:x:77:\n299');

    // `etc` is a directory in the image: a file of that name cannot replace it.
    const clash = join(dir, 'clash');
    await mkdir(join(clash, 'files'), { recursive: true });
    for (let i = 0; i < MANY; i++) await writeFile(join(clash, 'files', `c${i}`), String(i));
    await writeFile(join(clash, 'files/etc'), 'not a directory');
    await writeFile(join(clash, 'Dockerfile'), 'FROM busybox\nCOPY files /\n');
    const refused = await daemon.tsctr(['build', '--no-cache', '-q', '-t', 'copy-tree:clash', clash]);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('cannot copy to non-directory: /etc is a directory');
    expect((await daemon.tsctr(['run', '--rm', 'busybox', 'true'])).exitCode).toBe(0);
  }, 180_000);
  it('a cached build gives the same image and output, and removes the context it spooled', async () => {
    const first = await daemon.tsctr(['build', '-t', 'copy-tree:cached', context()]);
    expect(first.exitCode).toBe(0);
    const again = await daemon.tsctr(['build', '-t', 'copy-tree:cached', context()]);
    expect(again.exitCode).toBe(0);
    // Every step a hit, announced as cached, with the same images.
    const ids = (out: string) =>
      out.split('\n').filter((l) => / ---> [0-9a-f]{12}$/.test(l) || l.startsWith('Successfully'));
    expect(ids(again.stdout)).toEqual(ids(first.stdout));
    const steps = (again.stdout.match(/^Step /gm) ?? []).length;
    expect((again.stdout.match(/ ---> Using cache\n/g) ?? []).length).toBe(steps - 1);
    // The answer may end before the spool goes: it goes right after.
    const tmp = join(daemon.dataRoot, 'tmp');
    for (let i = 0; i < 100 && (await readdir(tmp)).length > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await readdir(tmp)).toEqual([]);
  }, 180_000);
});

import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { join, normalize } from 'node:path';
import { e2eSkipReason, freePort, useDaemon, useTempDir } from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const skip =
  e2eSkipReason() ??
  (await execa('git', ['--version'], { reject: false }).then((r) =>
    r.exitCode === 0 ? undefined : 'git is not installed (apt-get install git)',
  ));
if (skip) console.warn(`remote build context tests skipped: ${skip}`);

/**
 * Remote build contexts (`POST /build?remote=…`, issue 19): a repository served by `git daemon`
 * (shallow fetches) and over "dumb" http by a server in the test (full fetches), tarballs and a
 * Dockerfile served over http, all on loopback; built with tsctr (the daemon fetches) and with
 * the real docker CLI (which fetches itself and uploads).
 */
describe.skipIf(skip !== undefined)('build from a remote context', () => {
  const work = useTempDir('tsctr-build-remote-');
  const daemon = useDaemon();
  let gitDaemon: ChildProcess;
  let http: Server;
  let gitUrl: string;
  let httpUrl: string;

  const file = async (path: string, content: string) => {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content);
  };
  const git = (cwd: string, ...args: string[]) =>
    execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'init.defaultBranch=main', ...args], {
      cwd,
    });
  /** Runs the image and returns its output. */
  const runImage = async (image: string) => (await daemon.tsctr(['run', '--rm', image])).stdout;

  beforeAll(async () => {
    const src = join(work, 'src');
    await file(join(src, 'Dockerfile'), 'FROM busybox\nCOPY hello.txt /\nCMD ["cat", "/hello.txt"]\n');
    await file(join(src, 'hello.txt'), 'main branch\n');
    await file(join(src, 'sub/Dockerfile'), 'FROM busybox\nCOPY . /ctx/\nCMD ["ls", "/ctx"]\n');
    await file(join(src, 'sub/inner.txt'), 'inner\n');
    await file(join(src, 'custom.dockerfile'), 'FROM busybox\nCMD ["echo", "custom dockerfile"]\n');
    await git(src, 'init', '-q');
    await git(src, 'add', '.');
    await git(src, 'commit', '-qm', 'main');
    await git(src, 'tag', 'v1');
    await git(src, 'checkout', '-qb', 'feature');
    await file(join(src, 'hello.txt'), 'feature branch\n');
    await git(src, 'commit', '-qam', 'feature');
    await git(src, 'checkout', '-q', 'main');
    const served = join(work, 'served');
    await mkdir(served);
    await git(work, 'clone', '-q', '--bare', src, join(served, 'repo.git'));
    // The dumb http protocol needs the refs listed in files.
    await git(join(served, 'repo.git'), 'update-server-info');

    // Tarballs of the same tree, and a Dockerfile on its own.
    await execa('tar', ['-czf', join(served, 'ctx.tar.gz'), '-C', src, '--exclude=.git', '.']);
    await execa('tar', ['-cf', join(served, 'ctx.tar'), '-C', src, '--exclude=.git', '.']);
    await file(
      join(served, 'Dockerfile.txt'),
      'FROM busybox\nRUN echo built from a Dockerfile URL > /u\nCMD ["cat", "/u"]\n',
    );

    const gitPort = await freePort();
    gitDaemon = spawn(
      'git',
      [
        'daemon',
        '--reuseaddr',
        '--export-all',
        '--listen=127.0.0.1',
        `--port=${gitPort}`,
        `--base-path=${served}`,
        served,
      ],
      { stdio: 'ignore' },
    );
    gitUrl = `git://127.0.0.1:${gitPort}`;
    // git daemon is ready once it answers ls-remote.
    for (let i = 0; i < 100; i++) {
      const r = await execa('git', ['ls-remote', `${gitUrl}/repo.git`], { reject: false });
      if (r.exitCode === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }

    http = createServer((req, res) => {
      const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]!));
      const target = join(served, path);
      stat(target).then(
        (st) => {
          if (!st.isFile()) throw new Error('not a file');
          const type = path.endsWith('.txt')
            ? 'text/plain; charset=utf-8'
            : path.endsWith('.gz')
              ? 'application/gzip'
              : 'application/octet-stream';
          res.writeHead(200, { 'Content-Type': type, 'Content-Length': st.size });
          createReadStream(target).pipe(res);
        },
        () => {
          res.writeHead(404, { 'Content-Type': 'text/plain' });
          res.end('no such file\n');
        },
      );
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = http.address();
    httpUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });

  afterAll(async () => {
    gitDaemon?.kill();
    await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
  });

  it('builds a git repository served by git daemon: default branch, a branch, a tag with a subdirectory', async () => {
    const main = await daemon.tsctr(['build', '-q', `${gitUrl}/repo.git`]);
    expect(main.stderr).toBe('');
    expect(main.exitCode).toBe(0);
    expect(await runImage(main.stdout)).toBe('main branch');

    const feature = await daemon.tsctr(['build', '-t', 'remote-feature', `${gitUrl}/repo.git#feature`]);
    expect(feature.exitCode).toBe(0);
    expect(feature.stdout).toContain('Step 2/3 : COPY hello.txt /');
    expect(feature.stdout).toContain('Successfully tagged remote-feature:latest');
    expect(await runImage('remote-feature')).toBe('feature branch');

    const sub = await daemon.tsctr(['build', '-q', `${gitUrl}/repo.git#v1:sub`]);
    expect(sub.exitCode).toBe(0);
    expect((await runImage(sub.stdout)).split('\n')).toEqual(['Dockerfile', 'inner.txt']);

    // -f names a Dockerfile inside the repository.
    const custom = await daemon.tsctr(['build', '-q', '-f', 'custom.dockerfile', `${gitUrl}/repo.git`]);
    expect(custom.exitCode).toBe(0);
    expect(await runImage(custom.stdout)).toBe('custom dockerfile');
  });

  it('builds a repository over the dumb http protocol (no shallow fetch), by branch and by commit', async () => {
    const byBranch = await daemon.tsctr(['build', '-q', `${httpUrl}/repo.git#feature`]);

    expect(byBranch.stderr).toBe('');
    expect(await runImage(byBranch.stdout)).toBe('feature branch');
    const commit = (await git(join(work, 'src'), 'rev-parse', 'feature')).stdout.trim();
    const byCommit = await daemon.tsctr(['build', '-q', `${httpUrl}/repo.git#${commit}`]);
    expect(byCommit.stderr).toBe('');
    expect(await runImage(byCommit.stdout)).toBe('feature branch');
  });

  it('refuses a subdirectory outside the repository, a missing ref and an option-like ref', async () => {
    const outside = await daemon.tsctr(['build', `${gitUrl}/repo.git#main:../..`]);
    expect(outside.exitCode).toBe(1);
    expect(outside.stderr).toContain('error setting git context, "../.." not within git root');
    const missing = await daemon.tsctr(['build', `${gitUrl}/repo.git#no-such-branch`]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/error fetching: .*no-such-branch/s);
    const option = await daemon.tsctr(['build', `${gitUrl}/repo.git#--upload-pack=touch`]);
    expect(option.exitCode).toBe(1);
    expect(option.stderr).toBe('Error response from daemon: invalid refspec: --upload-pack=touch');
    // Every clone is removed, whatever the outcome.
    expect(await readdir(join(daemon.dataRoot, 'tmp'))).toEqual([]);
  });

  it('builds tarballs (gzip and plain) and a plain Dockerfile URL with an empty context', async () => {
    const gz = await daemon.tsctr(['build', '-q', `${httpUrl}/ctx.tar.gz`]);
    expect(gz.stderr).toBe('');
    expect(await runImage(gz.stdout)).toBe('main branch');
    const plain = await daemon.tsctr(['build', '-q', '-f', 'sub/Dockerfile', `${httpUrl}/ctx.tar`]);
    expect(plain.stderr).toBe('');
    expect((await runImage(plain.stdout)).split('\n')).toContain('custom.dockerfile');

    const dockerfile = await daemon.tsctr(['build', '-q', `${httpUrl}/Dockerfile.txt`]);
    expect(dockerfile.stderr).toBe('');
    expect(await runImage(dockerfile.stdout)).toBe('built from a Dockerfile URL');

    const missing = await daemon.tsctr(['build', `${httpUrl}/nothing.tar`]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe(
      `Error response from daemon: error downloading remote context ${httpUrl}/nothing.tar: failed to GET ${httpUrl}/nothing.tar with status 404 Not Found: no such file`,
    );
  });

  it('builds a context and a Dockerfile piped to stdin (tsctr build -)', async () => {
    const { readFile } = await import('node:fs/promises');
    const tar = await daemon.tsctr(['build', '-q', '-'], {
      input: (await readFile(join(work, 'served/ctx.tar'))).toString('latin1'),
    });
    // execa's string input is utf8: a tar of ASCII files survives the round trip.
    expect(tar.stderr).toBe('');
    expect(await runImage(tar.stdout)).toBe('main branch');
    const dockerfile = await daemon.tsctr(['build', '-q', '-'], {
      input: 'FROM busybox\nCMD ["echo", "from stdin"]\n',
    });
    expect(dockerfile.stderr).toBe('');
    expect(await runImage(dockerfile.stdout)).toBe('from stdin');
  });

  it('serves the docker CLI building git and tarball URLs (DOCKER_BUILDKIT=0)', async () => {
    const previous = process.env.DOCKER_BUILDKIT;
    process.env.DOCKER_BUILDKIT = '0';
    try {
      // The docker CLI clones and downloads itself, then uploads the context.
      const fromGit = await daemon.docker(['build', '-q', `${gitUrl}/repo.git#feature`]);
      expect(fromGit.exitCode).toBe(0);
      expect(await runImage(fromGit.stdout.trim())).toBe('feature branch');
      const fromTar = await daemon.docker(['build', '-q', `${httpUrl}/ctx.tar.gz`]);
      expect(fromTar.exitCode).toBe(0);
      expect(await runImage(fromTar.stdout.trim())).toBe('main branch');
    } finally {
      if (previous === undefined) Reflect.deleteProperty(process.env, 'DOCKER_BUILDKIT');
      else process.env.DOCKER_BUILDKIT = previous;
    }
  });
});

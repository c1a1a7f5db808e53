import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { CLI_RUNTIMES, e2eSkip, useDaemon, useTempDir } from '@ts-container/test-harness';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkip('build end-to-end tests');

const ALL_INSTRUCTIONS = `FROM busybox
ARG VERSION=1.0
ENV APP_VERSION=$VERSION GREETING="hi there"
LABEL org.example.version=$VERSION
WORKDIR /app
COPY src/ ./src/
ADD app.tar.gz /opt/
RUN echo "built $APP_VERSION" > /app/built.txt && echo step-output
RUN echo 'appuser:x:1234:1234::/home/appuser:/bin/sh' >> /etc/passwd
COPY --chown=appuser:1234 --chmod=640 src/hello.txt /home/appuser/
USER appuser
EXPOSE 8080/tcp
VOLUME /data
HEALTHCHECK --interval=30s CMD true
ONBUILD RUN echo triggered-in-child > /tmp/child
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/built.txt; cat /opt/d/a.txt; id -u; echo $GREETING; ls /app /app/src"]
`;

describe.skipIf(skip !== undefined)('tsctr build (classic builder over POST /build)', () => {
  const work = useTempDir('tsctr-build-test-');
  const daemon = useDaemon();
  const context = join(work, 'app');
  const tag = `buildtest${process.pid}`;

  const file = async (path: string, content: string) => {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content);
  };

  beforeAll(async () => {
    await file(join(context, 'Dockerfile'), ALL_INSTRUCTIONS);
    await file(join(context, 'src/hello.txt'), 'hello\n');
    await file(join(context, 'src/debug.log'), 'ignored\n');
    await file(join(context, 'secrets/key'), 'ignored\n');
    await file(join(context, '.dockerignore'), 'secrets\n**/*.log\n');
    await file(join(work, 'archive/d/a.txt'), 'from the archive\n');
    await execa('tar', ['-czf', join(context, 'app.tar.gz'), '-C', join(work, 'archive'), 'd']);
  });

  let firstId = '';
  let latestId = '';

  it('builds a Dockerfile with every instruction, and the image runs with its files, env and command', async () => {
    const r = await daemon.tsctr(['build', '-t', `${tag}:1`, '--build-arg', 'VERSION=2.5', context]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Step 1/17 : FROM busybox');
    expect(lines).toContain('Step 8/17 : RUN echo "built $APP_VERSION" > /app/built.txt && echo step-output');
    expect(lines).toContain('step-output');
    expect(r.stdout).toMatch(
      / ---> Running in [a-f0-9]{12}\nstep-output\nRemoving intermediate container [a-f0-9]{12}\n ---> [a-f0-9]{12}\n/,
    );
    expect(lines).toContain(`Successfully tagged ${tag}:1`);
    const built = /Successfully built ([a-f0-9]{12})/.exec(r.stdout)?.[1];
    expect(built).toBeDefined();
    firstId = built!;

    const run = await daemon.tsctr(['run', '--rm', `${tag}:1`]);
    expect(run.exitCode).toBe(0);
    // Entrypoint + CMD, the build arg through ENV, ADD unpacked the archive, USER applied,
    // .dockerignore kept debug.log out of COPY src/.
    expect(run.stdout).toBe(
      'built 2.5\nfrom the archive\n1234\nhi there\n/app:\nbuilt.txt\nsrc\n\n/app/src:\nhello.txt',
    );

    const owned = await daemon.tsctr([
      'run',
      '--rm',
      '--entrypoint',
      'stat',
      `${tag}:1`,
      '-c',
      '%u:%g %a',
      '/home/appuser/hello.txt',
    ]);
    expect(owned.stdout).toBe('1234:1234 640');

    const inspect = JSON.parse((await daemon.tsctr(['image', 'inspect', `${tag}:1`])).stdout)[0];
    expect(inspect.Config).toMatchObject({
      User: 'appuser',
      WorkingDir: '/app',
      Env: expect.arrayContaining(['APP_VERSION=2.5', 'GREETING=hi there']),
      Entrypoint: ['/bin/sh', '-c'],
      ExposedPorts: { '8080/tcp': {} },
      Volumes: { '/data': {} },
      Labels: { 'org.example.version': '2.5' },
      Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 30_000_000_000 },
      OnBuild: ['RUN echo triggered-in-child > /tmp/child'],
    });
    // No intermediate container is left behind.
    expect((await daemon.tsctr(['ps', '-aq'])).stdout).toBe('');
  });

  it('uses the cache on a second build and yields the same image ID', async () => {
    // Through each tsctr built here: the context goes up as a chunked stream, the output comes back as one.
    for (const runtime of CLI_RUNTIMES) {
      const r = await daemon.tsctr(['build', '-t', `${tag}:2`, '--build-arg', 'VERSION=2.5', context], {
        runtime,
      });
      expect(r.exitCode, runtime.name).toBe(0);
      expect(r.stdout.match(/ ---> Using cache/g)?.length).toBe(16);
      expect(r.stdout).not.toContain('Running in');
      expect(r.stdout).toContain(`Successfully built ${firstId}`);
    }
    // A changed build arg invalidates the steps that see it.
    const changed = await daemon.tsctr(['build', '-q', '--build-arg', 'VERSION=3', context]);
    expect(changed.exitCode).toBe(0);
    expect(changed.stdout).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(changed.stdout.slice(7, 19)).not.toBe(firstId);
    // --no-cache rebuilds everything.
    const fresh = await daemon.tsctr(['build', '--no-cache', '--build-arg', 'VERSION=2.5', context]);
    expect(fresh.exitCode).toBe(0);
    expect(fresh.stdout).not.toContain('Using cache');
    // The cache now leads to the images of the fresh build.
    latestId = /Successfully built ([a-f0-9]{12})/.exec(fresh.stdout)![1]!;
  });

  it('lists the build steps in history', async () => {
    const r = await daemon.tsctr(['history', '--no-trunc', '--format', '{{.CreatedBy}}', `${tag}:1`]);
    expect(r.exitCode).toBe(0);
    const steps = r.stdout.split('\n');
    expect(steps[0]).toBe(
      '/bin/sh -c #(nop)  CMD ["cat /app/built.txt; cat /opt/d/a.txt; id -u; echo $GREETING; ls /app /app/src"]',
    );
    expect(steps).toContain(
      '|1 VERSION=2.5 /bin/sh -c echo "built $APP_VERSION" > /app/built.txt && echo step-output',
    );
    expect(steps).toContain('/bin/sh -c #(nop) WORKDIR /app');
    expect(steps.some((s) => /^\/bin\/sh -c #\(nop\) COPY dir:[a-f0-9]{64} in \.\/src\/ $/.test(s))).toBe(
      true,
    );
    expect(steps.some((s) => /^\/bin\/sh -c #\(nop\) ADD file:[a-f0-9]{64} in \/opt\/ $/.test(s))).toBe(true);
    // Steps 2 to 17 and the base image's own entry.
    expect(steps).toHaveLength(17);
  });

  it('runs ONBUILD triggers in a child build', async () => {
    const dir = join(work, 'child');
    await file(join(dir, 'Dockerfile'), `FROM ${tag}:1\nCMD ["cat /tmp/child"]\n`);
    const r = await daemon.tsctr(['build', '-t', `${tag}-child`, dir]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('# Executing 1 build trigger');
    expect((await daemon.tsctr(['run', '--rm', `${tag}-child`])).stdout).toBe('triggered-in-child');
  });

  it('builds a small final image from a multi-stage build with COPY --from', async () => {
    const dir = join(work, 'multi');
    await file(
      join(dir, 'Dockerfile'),
      `FROM busybox AS builder
WORKDIR /build
RUN echo 'compiled artifact' > app.bin && dd if=/dev/zero of=big bs=1k count=512 2>/dev/null
FROM scratch
COPY --from=builder /build/app.bin /app/
CMD ["/app/app.bin"]
`,
    );
    const r = await daemon.tsctr(['build', '-t', `${tag}-small`, dir]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('Step 5/6 : COPY --from=builder /build/app.bin /app/');
    const inspect = JSON.parse((await daemon.tsctr(['image', 'inspect', `${tag}-small`])).stdout)[0];
    expect(inspect.RootFS.Layers).toHaveLength(1);
    expect(inspect.Size).toBeLessThan(4096);
    const created = await daemon.tsctr(['create', `${tag}-small`]);
    expect(created.exitCode).toBe(0);
    const id = created.stdout.trim();
    const tarPath = join(work, 'small.tar');
    const exported = await daemon.tsctr(['export', '-o', tarPath, id]);
    expect(exported.exitCode).toBe(0);
    const listing = (await execa('tar', ['-tf', tarPath])).stdout.split('\n');
    expect(listing).toContain('./app/app.bin');
    expect(listing.some((p) => p.includes('busybox') || p.includes('big'))).toBe(false);
    expect((await execa('tar', ['-xOf', tarPath, './app/app.bin'])).stdout).toBe('compiled artifact');
    await daemon.tsctr(['rm', id]);
  });

  it('refuses COPY of a file .dockerignore excludes', async () => {
    const dir = join(work, 'ignored');
    await file(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY secret.txt /\n');
    await file(join(dir, 'secret.txt'), 'no\n');
    await file(join(dir, '.dockerignore'), 'secret.txt\n');
    const r = await daemon.tsctr(['build', dir]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      'COPY failed: file not found in build context or excluded by .dockerignore: stat secret.txt: file does not exist',
    );
  });

  it('reports a Dockerfile syntax error with its line number and exits 1', async () => {
    const dir = join(work, 'syntax');
    await file(join(dir, 'Dockerfile'), 'FROM busybox\nRUN true\nRUNN echo hi\n');
    const r = await daemon.tsctr(['build', dir]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'Error response from daemon: dockerfile parse error on line 3: unknown instruction: RUNN (did you mean run?)',
    );
  });

  it('stops at a failing RUN with the command and its exit code', async () => {
    const dir = join(work, 'failing');
    await file(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo before && exit 3\nRUN echo never\n');
    const r = await daemon.tsctr(['build', '--force-rm', dir]);
    expect(r.exitCode).toBe(3);
    // --force-rm: the failed step's container is removed, and the output says so, as Docker's does.
    expect(r.stdout.split('\n').slice(-2)[0]).toBe('before');
    expect(r.stdout.split('\n').at(-1)).toMatch(/^Removing intermediate container [a-f0-9]{12}$/);
    expect(r.stdout).not.toContain('Step 3/3');
    expect(r.stderr).toBe("The command '/bin/sh -c echo before && exit 3' returned a non-zero code: 3");
    expect((await daemon.tsctr(['ps', '-aq'])).stdout).toBe('');
  });

  it('serves the real docker CLI with DOCKER_BUILDKIT=0 (classic /build, Builder-Version: 1)', async () => {
    const ping = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = request({ socketPath: daemon.socketPath, path: '/_ping' }, (res) => {
        res.resume();
        resolve(res.headers);
      });
      req.on('error', reject);
      req.end();
    });
    expect(ping['builder-version']).toBe('1');
    expect(ping['tsctr-features']).toBe('partial-build-context');
    const previous = process.env.DOCKER_BUILDKIT;
    process.env.DOCKER_BUILDKIT = '0';
    try {
      const r = await daemon.docker(['build', '-t', `${tag}-docker`, '--build-arg', 'VERSION=2.5', context]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('Sending build context to Docker daemon');
      expect(r.stdout).toContain('Step 1/17 : FROM busybox');
      expect(r.stdout.match(/ ---> Using cache/g)?.length).toBe(16);
      expect(r.stdout).toContain(`Successfully built ${latestId}`);
      expect(r.stdout).toContain(`Successfully tagged ${tag}-docker:latest`);
      const quiet = await daemon.docker(['build', '-q', '--build-arg', 'VERSION=2.5', context]);
      expect(quiet.exitCode).toBe(0);
      expect(quiet.stdout.slice(7, 19)).toBe(latestId);
      const failing = await daemon.docker(['build', join(work, 'syntax')]);
      expect(failing.exitCode).toBe(1);
      expect(failing.stderr).toContain('dockerfile parse error on line 3: unknown instruction: RUNN');
      expect((await daemon.docker(['run', '--rm', `${tag}-docker`])).stdout).toContain('built 2.5');
    } finally {
      if (previous === undefined) Reflect.deleteProperty(process.env, 'DOCKER_BUILDKIT');
      else process.env.DOCKER_BUILDKIT = previous;
    }
  });

  it('builds from a Dockerfile on stdin with -f - and from a Dockerfile outside the context', async () => {
    const stdin = await daemon.tsctr(['build', '-q', '-f', '-', context], {
      input: 'FROM busybox\nCOPY src/hello.txt /\nCMD ["cat", "/hello.txt"]\n',
    });
    expect(stdin.exitCode).toBe(0);
    expect((await daemon.tsctr(['run', '--rm', stdin.stdout])).stdout).toBe('hello');
    const outside = join(work, 'Dockerfile.outside');
    await writeFile(outside, 'FROM busybox\nCMD ["echo", "outside"]\n');
    const r = await daemon.tsctr(['build', '-q', '-f', outside, context]);
    expect(r.exitCode).toBe(0);
    expect((await daemon.tsctr(['run', '--rm', r.stdout])).stdout).toBe('outside');
  });

  it('copies neither an outside Dockerfile nor the .dockerignore sent beside it, for tsctr and the docker CLI', async () => {
    // The docker CLI's context then ends right after the .dockerignore's data: no padding, no
    // end blocks (Go's tar reader takes that as the end; so must the daemon).
    const dir = join(work, 'outside-ctx');
    await mkdir(join(dir, 'ctx'), { recursive: true });
    await writeFile(join(dir, 'ctx', 'file.txt'), 'hello\n');
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /src\nCMD ["ls", "-A", "/src"]\n');
    const previous = process.env.DOCKER_BUILDKIT;
    process.env.DOCKER_BUILDKIT = '0';
    try {
      for (const run of [daemon.tsctr.bind(daemon), daemon.docker.bind(daemon)]) {
        for (const ignore of [undefined, 'nothing-here\n']) {
          if (ignore === undefined) await rm(join(dir, 'ctx', '.dockerignore'), { force: true });
          else await writeFile(join(dir, 'ctx', '.dockerignore'), ignore);
          const built = await run(['build', '-q', '-f', join(dir, 'Dockerfile'), join(dir, 'ctx')]);
          expect(built.exitCode).toBe(0);
          const id = built.stdout.trim().split('\n').at(-1)!;
          // A .dockerignore of the context's own is copied unless it names itself, as in Docker.
          const listed = ignore === undefined ? 'file.txt' : '.dockerignore\nfile.txt';
          expect((await daemon.tsctr(['run', '--rm', id])).stdout).toBe(listed);
        }
      }
    } finally {
      if (previous === undefined) Reflect.deleteProperty(process.env, 'DOCKER_BUILDKIT');
      else process.env.DOCKER_BUILDKIT = previous;
    }
  });

  it('sends only the files the Dockerfile reads, and the whole context when the build reads more', async (t) => {
    // A file no one can read (a write-only sysfs attribute, bound over a context file): a
    // client that sends the whole context fails on it, as the docker CLI and tar do.
    const attribute = '/sys/bus/pci/rescan';
    if (!(await stat(attribute).catch(() => undefined))) {
      console.log(`skipped: ${attribute} is missing, and the test needs an unreadable file`);
      t.skip();
      return;
    }
    const dir = join(work, 'partial');
    await file(join(dir, 'a.txt'), 'A\n');
    await file(join(dir, 'src/sub/f'), 'F\n');
    await file(join(dir, 'src/debug.log'), 'ignored\n');
    await file(join(dir, '.dockerignore'), '**/*.log\n');
    await file(join(dir, 'unreadable'), '');
    await file(
      join(dir, 'Dockerfile'),
      'FROM busybox\nCOPY a.txt /\nCOPY src/ /src/\nCMD ["find", "/a.txt", "/src"]\n',
    );
    await execa('mount', ['--bind', attribute, join(dir, 'unreadable')]);
    try {
      const partial = await daemon.tsctr(['build', '-q', '--no-cache', dir]);
      expect(partial.stderr).toBe('');
      expect(partial.exitCode).toBe(0);
      expect((await daemon.tsctr(['run', '--rm', partial.stdout])).stdout).toBe(
        '/a.txt\n/src\n/src/sub\n/src/sub/f',
      );

      // A daemon that does not list the feature (another engine, an older tsctrd) is sent the
      // whole context: here a proxy that drops the header from /_ping.
      const proxySocket = join(work, 'no-features.sock');
      const proxy = createServer((client) => {
        const upstream = connect(daemon.socketPath);
        client.pipe(upstream);
        upstream.on('data', (chunk: Buffer) => {
          client.write(chunk.toString('latin1').replace(/Tsctr-Features: [^\r]*\r\n/i, ''), 'latin1');
        });
        upstream.on('end', () => client.end());
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      });
      await new Promise<void>((resolve) => proxy.listen(proxySocket, resolve));
      try {
        const plain = await daemon.tsctr(['-H', `unix://${proxySocket}`, 'build', '-q', '--no-cache', dir]);
        expect(plain.exitCode).toBe(1);
        expect(plain.stderr).toContain('error creating build context');
      } finally {
        await new Promise((resolve) => proxy.close(resolve));
      }

      // COPY . needs every file: the whole context is sent, and the unreadable one fails it.
      await file(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx/\n');
      const all = await daemon.tsctr(['build', '-q', dir]);
      expect(all.exitCode).toBe(1);
      expect(all.stderr).toContain('error creating build context');
      expect(all.stderr).toContain('unreadable');
      await execa('umount', [join(dir, 'unreadable')]);

      // The same files as a build of the whole context (an ONBUILD makes tsctr send it whole).
      // Layer digests differ between two builds anyway: a directory COPY makes has its own mtime.
      await file(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY a.txt /\nCOPY src/ /src/\nONBUILD RUN true\n');
      const reference = await daemon.tsctr(['build', '-q', '--no-cache', dir]);
      expect(reference.exitCode).toBe(0);
      const files = async (id: string) =>
        (
          await daemon.tsctr([
            'run',
            '--rm',
            id,
            'sh',
            '-c',
            'find /a.txt /src | sort; cat /a.txt /src/sub/f',
          ])
        ).stdout;
      expect(await files(partial.stdout)).toBe('/a.txt\n/src\n/src/sub\n/src/sub/f\nA\nF');
      expect(await files(reference.stdout)).toBe(await files(partial.stdout));
      const layers = async (id: string) =>
        JSON.parse((await daemon.tsctr(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', id])).stdout);
      expect((await layers(partial.stdout)).length).toBe((await layers(reference.stdout)).length);

      // A base image's ONBUILD COPY reads a file the Dockerfile does not name: the daemon says
      // so, and tsctr sends the whole context.
      await file(join(dir, 'b.txt'), 'B\n');
      await file(join(dir, 'Dockerfile'), 'FROM busybox\nONBUILD COPY b.txt /b\n');
      const base = await daemon.tsctr(['build', '-q', '-t', `${tag}-onbuild`, dir]);
      expect(base.exitCode).toBe(0);
      await file(join(dir, 'Dockerfile'), `FROM ${tag}-onbuild\nCOPY a.txt /a\nCMD ["cat", "/a", "/b"]\n`);
      const child = await daemon.tsctr(['build', '-q', dir]);
      expect(child.exitCode).toBe(0);
      expect(child.stderr).toBe(
        'The build reads files the Dockerfile does not name: sending the whole context.',
      );
      expect((await daemon.tsctr(['run', '--rm', child.stdout])).stdout).toBe('A\nB');
    } finally {
      await execa('umount', [join(dir, 'unreadable')]).catch(() => undefined);
    }
  });
});

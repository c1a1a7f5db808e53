import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { e2eSkip, useDaemon, useTempDir } from '@ts-container/test-harness';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('build API tests');

interface BuildMessage {
  stream?: string;
  aux?: { ID: string };
  error?: string;
  errorDetail?: { message: string; code?: number };
}

/**
 * `POST /build` as API clients (docker-py, the docker CLI) see it (issue 16): moby's message
 * order, RUN stderr in red, and the query parameters that shape RUN containers and the cache.
 */
describe.skipIf(skip !== undefined)('POST /build conformance', () => {
  const work = useTempDir('tsctr-build-api-');
  const daemon = useDaemon();

  /** Posts a context made of `files` and returns the decoded message stream. */
  const build = async (files: Record<string, string>, query: string): Promise<BuildMessage[]> => {
    const dir = await mkdtemp(join(work, 'ctx-'));
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    const tar = (await execa('tar', ['-c', '-C', dir, '.'], { encoding: 'buffer' })).stdout;
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          socketPath: daemon.socketPath,
          method: 'POST',
          path: `/v1.41/build?${query}`,
          headers: { 'Content-Type': 'application/x-tar' },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end(tar);
    });
    return body
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as BuildMessage);
  };
  const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

  it('streams steps, RUN output (stderr in red), the aux ID, then Successfully built and tagged, last', async () => {
    const messages = await build(
      {
        Dockerfile:
          'FROM busybox AS first\nRUN echo hi > /x\nFROM busybox\nCOPY --from=first /x /x\nRUN echo out && echo err >&2\n',
      },
      't=apiorder&rm=1',
    );
    const streams = messages.map((m) => m.stream);
    expect(streams[0]).toBe('Step 1/5 : FROM busybox AS first\n');
    // moby's StderrFormatter: what RUN wrote to stderr, wrapped in red.
    expect(streams).toContain('out\n');
    expect(streams).toContain('\u001b[91merr\n\u001b[0m');
    expect(streams.join('')).toMatch(
      /Step 5\/5 : RUN echo out && echo err >&2\n ---> Running in ([a-f0-9]{12})\n(.|\n)*Removing intermediate container \1\n ---> [a-f0-9]{12}\n/,
    );
    // One aux message per stage, the last one being the result, before the closing lines.
    const aux = messages.filter((m) => m.aux).map((m) => m.aux!.ID);
    expect(aux).toHaveLength(2);
    const last3 = messages.slice(-3);
    expect(last3[0]).toEqual({ aux: { ID: aux[1] } });
    expect(last3[1]).toEqual({ stream: `Successfully built ${short(aux[1]!)}\n` });
    expect(last3[2]).toEqual({ stream: 'Successfully tagged apiorder:latest\n' });
  });

  it('skips the stages the target does not need (as BuildKit does)', async () => {
    const messages = await build(
      { Dockerfile: 'FROM busybox AS unused\nRUN false\nFROM busybox\nRUN true\n' },
      'rm=1',
    );
    const text = messages.map((m) => m.stream ?? '').join('');
    expect(text).toMatch(/^Step 1\/2 : FROM busybox\n/);
    expect(text).not.toContain('RUN false');
    expect(text).toContain('Successfully built');
  });

  it('keeps intermediate containers with rm=0, and says nothing about removing them', async () => {
    const messages = await build({ Dockerfile: 'FROM busybox\nRUN echo kept\n' }, 'rm=0&nocache=1');
    const text = messages.map((m) => m.stream ?? '').join('');
    const id = / ---> Running in ([a-f0-9]{12})/.exec(text)?.[1];
    expect(id).toBeDefined();
    expect(text).not.toContain('Removing intermediate container');
    const ps = await daemon.tsctr(['ps', '-aq', '--no-trunc']);
    expect(ps.stdout.split('\n').some((c) => c.startsWith(id!))).toBe(true);
    await daemon.tsctr(['rm', '-f', id!]);
  });

  it('uses only the cachefrom images (and their parents) as cache when cachefrom is given', async () => {
    const files = { Dockerfile: 'FROM busybox\nENV FOO=bar\nRUN touch baz\nRUN touch bax\n' };
    await build(files, 't=cache1');
    const count = (messages: BuildMessage[]) =>
      messages.filter((m) => m.stream?.includes('Using cache')).length;
    expect(count(await build(files, `t=cache2&cachefrom=${encodeURIComponent('["cache1"]')}`))).toBe(3);
    expect(count(await build(files, `t=cache3&cachefrom=${encodeURIComponent('["nosuchtag"]')}`))).toBe(0);
    // Without cachefrom every local image may serve.
    expect(count(await build(files, 't=cache4'))).toBe(3);
  });

  it('gives RUN the extra hosts, the network named by networkmode, and fails like Docker without one', async () => {
    const hosts = await build(
      { Dockerfile: 'FROM busybox\nRUN cat /etc/hosts > /hosts-file\nCMD ["cat", "/hosts-file"]\n' },
      't=apihosts&nocache=1&extrahosts=extrahost.local.test%3A127.0.0.1&extrahosts=hello.world.test%3A127.0.0.2',
    );
    expect(hosts.at(-1)).toEqual({ stream: 'Successfully tagged apihosts:latest\n' });
    const out = (await daemon.tsctr(['run', '--rm', 'apihosts'])).stdout;
    expect(out).toContain('127.0.0.1\textrahost.local.test');
    expect(out).toContain('127.0.0.2\thello.world.test');

    // networkmode=none: only the loopback interface.
    const none = await build(
      { Dockerfile: 'FROM busybox\nRUN ls /sys/class/net > /ifaces\nCMD ["cat", "/ifaces"]\n' },
      't=apinone&nocache=1&networkmode=none',
    );
    expect(none.at(-1)?.stream).toBe('Successfully tagged apinone:latest\n');
    expect((await daemon.tsctr(['run', '--rm', 'apinone'])).stdout).toBe('lo');

    // A user network: its members resolve by alias from RUN.
    const net = `buildnet${process.pid}`;
    expect((await daemon.tsctr(['network', 'create', net])).exitCode).toBe(0);
    const target = await daemon.tsctr([
      'run',
      '-d',
      '--network',
      net,
      '--network-alias',
      'pingtarget',
      'busybox',
      'sleep',
      '60',
    ]);
    expect(target.exitCode).toBe(0);
    try {
      const ok = await build(
        { Dockerfile: 'FROM busybox\nRUN ping -c1 -W5 pingtarget\n' },
        `nocache=1&networkmode=${net}`,
      );
      expect(ok.at(-1)?.stream).toMatch(/^Successfully built [a-f0-9]{12}\n$/);
      const failed = await build(
        { Dockerfile: 'FROM busybox\nRUN ping -c1 -W2 pingtarget\n' },
        'nocache=1&networkmode=none',
      );
      expect(failed.at(-1)).toEqual({
        errorDetail: {
          code: 1,
          message: "The command '/bin/sh -c ping -c1 -W2 pingtarget' returned a non-zero code: 1",
        },
        error: "The command '/bin/sh -c ping -c1 -W2 pingtarget' returned a non-zero code: 1",
      });
      const missing = await build(
        { Dockerfile: 'FROM busybox\nRUN true\n' },
        'nocache=1&networkmode=nosuchnet',
      );
      expect(missing.at(-1)).toEqual({
        errorDetail: { message: 'network nosuchnet not found' },
        error: 'network nosuchnet not found',
      });
    } finally {
      await daemon.tsctr(['rm', '-f', target.stdout.trim()]);
      await daemon.tsctr(['network', 'rm', net]);
    }
  });

  it('serves the docker CLI flags --add-host, --network and --cache-from (DOCKER_BUILDKIT=0)', async () => {
    const dir = await mkdtemp(join(work, 'cli-'));
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN grep -q "10.1.2.3\tcli.test" /etc/hosts\n');
    const previous = process.env.DOCKER_BUILDKIT;
    process.env.DOCKER_BUILDKIT = '0';
    try {
      const r = await daemon.docker([
        'build',
        '--add-host',
        'cli.test:10.1.2.3',
        '--network',
        'none',
        '-t',
        'clihosts',
        dir,
      ]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('Successfully tagged clihosts:latest');
      const cached = await daemon.docker([
        'build',
        '--add-host',
        'cli.test:10.1.2.3',
        '--cache-from',
        'clihosts',
        dir,
      ]);
      expect(cached.exitCode).toBe(0);
      expect(cached.stdout).toContain(' ---> Using cache');
      const unknown = await daemon.docker([
        'build',
        '--add-host',
        'cli.test:10.1.2.3',
        '--cache-from',
        'nosuch',
        dir,
      ]);
      expect(unknown.exitCode).toBe(0);
      expect(unknown.stdout).not.toContain('Using cache');
    } finally {
      if (previous === undefined) Reflect.deleteProperty(process.env, 'DOCKER_BUILDKIT');
      else process.env.DOCKER_BUILDKIT = previous;
    }
  });

  it('refuses squash, an unknown platform and isolation values Docker refuses on Linux', async () => {
    const status = async (query: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          { socketPath: daemon.socketPath, method: 'POST', path: `/v1.41/build?${query}` },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => {
              body += c.toString();
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    expect(await status('squash=1')).toEqual({
      status: 400,
      body: expect.stringContaining('squash is only supported with experimental mode'),
    });
    expect(await status('platform=foobar')).toEqual({
      status: 400,
      body: expect.stringContaining(
        '\\"foobar\\": unknown operating system or architecture: invalid argument',
      ),
    });
    expect(await status('isolation=hyperv')).toEqual({
      status: 400,
      body: expect.stringContaining('Unsupported isolation: \\"hyperv\\"'),
    });
  });

  it('refuses a malformed x-tsctr-sentsources, and stays up', async () => {
    for (const bad of ['{', '"a.txt"', '[1]', '[""]', JSON.stringify(Array(1001).fill('a'))]) {
      const messages = await build(
        { Dockerfile: 'FROM busybox\n' },
        `x-tsctr-sentsources=${encodeURIComponent(bad)}`,
      ).catch((e: unknown) => e);
      // A 400 before any message: the body is the error object, not a message stream.
      expect(JSON.stringify(messages)).toContain('invalid x-tsctr-sentsources value');
    }
    const ok = await build({ Dockerfile: 'FROM busybox\n' }, 'q=1');
    expect(ok.at(-1)?.stream).toMatch(/^sha256:[a-f0-9]{64}\n$/);
  });

  it('fails a partial context that lacks a source it reads, with the message tsctr retries on', async () => {
    // What tsctr does for a base image's ONBUILD COPY: it could not know that file was needed.
    const base = await build({ Dockerfile: 'FROM busybox\nONBUILD COPY b.txt /b\n' }, 'q=1');
    const baseId = base.at(-1)!.stream!.trim();
    const messages = await build(
      { Dockerfile: `FROM ${baseId}\nCOPY a.txt /a\n`, 'a.txt': 'A', 'b.txt': 'B' },
      `x-tsctr-sentsources=${encodeURIComponent('["a.txt"]')}`,
    );
    expect(messages.at(-1)?.error).toBe('the build reads a file the client did not send: b.txt');
  });
});

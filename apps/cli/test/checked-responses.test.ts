import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { type Server as NetServer, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLI_RUNTIMES,
  type CliRuntime,
  TestDaemon,
  e2eSkipReason,
  tsctrArgv,
} from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The CLI checks every answer it reads against the API's response schemas. These tests make
// sure the schemas never refuse what a daemon really sends: the real tsctrd's answers, and
// Docker's habit of encoding empty slices and maps as null.

const skip = e2eSkipReason();
if (skip) console.warn(`checked-response tests against tsctrd skipped: ${skip}`);

const unexpected = /unexpected response from/;

describe.skipIf(skip !== undefined)('checked responses: a real tsctrd', () => {
  let daemon: TestDaemon;
  const tag = process.pid;
  const ctr = `checked-${tag}`;
  const net = `checked-net-${tag}`;
  const vol = `checked-vol-${tag}`;
  beforeAll(async () => {
    daemon = await TestDaemon.start();
    await daemon.importBusybox();
    expect((await daemon.tsctr(['network', 'create', net])).exitCode).toBe(0);
    expect((await daemon.tsctr(['volume', 'create', vol])).exitCode).toBe(0);
    const run = await daemon.tsctr(['run', '-d', '--name', ctr, '-p', '80', 'busybox', 'sleep', '300']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect((await daemon.tsctr(['create', 'busybox', 'true'])).exitCode).toBe(0);
  });
  afterAll(async () => {
    await daemon?.destroy();
  });

  it('every command that reads a checked answer accepts it', async () => {
    const commands: string[][] = [
      ['ps'],
      ['ps', '-a', '-s'],
      ['ps', '-a', '--filter', 'status=created', '--format', '{{.Names}} {{.Ports}} {{.Networks}}'],
      ['version'],
      ['info'],
      ['inspect', ctr],
      ['inspect', '--size', ctr],
      ['inspect', 'busybox', net, vol],
      ['container', 'inspect', ctr],
      ['image', 'inspect', 'busybox'],
      ['images'],
      ['images', '-a', '--digests'],
      ['history', 'busybox'],
      ['top', ctr],
      ['diff', ctr],
      ['port', ctr],
      ['exec', ctr, 'true'],
      ['network', 'ls'],
      ['network', 'inspect', net, 'bridge'],
      ['network', 'connect', net, ctr],
      ['network', 'disconnect', net, ctr],
      ['volume', 'ls'],
      ['volume', 'inspect', vol],
      ['system', 'df'],
      ['system', 'df', '-v'],
      ['container', 'prune', '-f'],
      ['network', 'prune', '-f'],
      ['volume', 'prune', '-f'],
      ['image', 'prune', '-f'],
      ['system', 'prune', '-f'],
    ];
    for (const args of commands) {
      const r = await daemon.tsctr(args);
      expect(r.stderr, args.join(' ')).not.toMatch(unexpected);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const wait = await daemon.tsctr(['run', '-d', 'busybox', 'sh', '-c', 'exit 3']);
    const code = await daemon.tsctr(['wait', wait.stdout]);
    expect(code.stdout).toBe('3');
  });
});

/** A daemon stand-in that answers as Docker does when lists and maps are empty: with null. */
const nullAnswers: Record<string, unknown> = {
  '/_ping': 'OK',
  '/containers/json': [
    {
      Id: 'a'.repeat(64),
      Names: ['/quiet'],
      Image: 'busybox',
      ImageID: `sha256:${'b'.repeat(64)}`,
      Command: 'sh',
      Created: 1_700_000_000,
      Ports: null,
      Labels: null,
      State: 'exited',
      Status: 'Exited (0) 2 hours ago',
      HostConfig: { NetworkMode: 'none' },
      NetworkSettings: { Networks: null },
      Mounts: null,
    },
  ],
  '/images/json': [
    {
      Id: `sha256:${'b'.repeat(64)}`,
      ParentId: '',
      RepoTags: null,
      RepoDigests: null,
      Created: 1_700_000_000,
      Size: 4_000_000,
      SharedSize: -1,
      Labels: null,
      Containers: -1,
    },
  ],
  '/images/busybox/history': [
    { Id: '<missing>', Created: 1_700_000_000, CreatedBy: 'sh', Tags: null, Size: 0, Comment: '' },
  ],
  '/networks': [
    {
      Name: 'none',
      Id: 'c'.repeat(64),
      Created: '2024-01-01T00:00:00Z',
      Scope: 'local',
      Driver: 'null',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: null },
      Internal: false,
      Attachable: false,
      Ingress: false,
      Containers: null,
      Options: null,
      Labels: null,
    },
  ],
  '/volumes': { Volumes: null, Warnings: null },
  '/containers/prune': { ContainersDeleted: null, SpaceReclaimed: 0 },
  '/images/prune': { ImagesDeleted: null, SpaceReclaimed: 0 },
  '/volumes/prune': { VolumesDeleted: null, SpaceReclaimed: 0 },
  '/networks/prune': { NetworksDeleted: null },
  '/build/prune': { CachesDeleted: null, SpaceReclaimed: 0 },
  '/system/df': { LayersSize: 0, Images: null, Containers: null, Volumes: null, BuildCache: null },
  '/version': {
    Platform: { Name: 'Docker Engine - Community' },
    Components: null,
    Version: '27.0.0',
    ApiVersion: '1.46',
    MinAPIVersion: '1.24',
    Os: 'linux',
    Arch: 'amd64',
    KernelVersion: '6.1.0',
  },
};

/** tsctr against a fake daemon at `host`, with a clean environment; at most 20 s. */
async function tsctrAgainst(host: string, dir: string, args: string[], runtime?: CliRuntime) {
  const r = await execa(...tsctrArgv(['-H', host, ...args], runtime), {
    env: { PATH: process.env.PATH ?? '', DOCKER_CONFIG: join(dir, 'config') },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 20_000,
  });
  if (r.timedOut) throw new Error(`tsctr ${args.join(' ')}: no answer in 20 s`);
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

describe('checked responses: Docker’s nulls', () => {
  let server: Server;
  let dir: string;
  let host: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-nulls-'));
    server = createServer((req, res) => {
      const path = (req.url ?? '').replace(/^\/v[\d.]+/, '').split('?')[0]!;
      const answer = nullAnswers[path];
      if (answer === undefined) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ message: `no answer for ${path}` }));
        return;
      }
      res.writeHead(200, { 'Content-Type': typeof answer === 'string' ? 'text/plain' : 'application/json' });
      res.end(typeof answer === 'string' ? answer : JSON.stringify(answer));
    });
    const socket = join(dir, 'docker.sock');
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    host = `unix://${socket}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const tsctr = (args: string[]) => tsctrAgainst(host, dir, args);

  it('lists, prunes and reports with null lists and maps', async () => {
    const ps = await tsctr(['ps', '-a', '--format', '{{.Names}}|{{.Ports}}|{{.Labels}}|{{.Networks}}']);
    expect(ps.stderr).toBe('');
    expect(ps.stdout).toBe('quiet|||');
    const images = await tsctr(['images', '--format', '{{.Repository}}:{{.Tag}} {{.SharedSize}}']);
    expect(images.stderr).toBe('');
    expect(images.stdout).toBe('<none>:<none> N/A');
    const history = await tsctr(['history', '-q', 'busybox']);
    expect(history.stdout).toBe('<missing>');
    const networks = await tsctr(['network', 'ls', '--format', '{{.Name}} {{.Labels}}']);
    expect(networks.stdout).toBe('none ');
    const volumes = await tsctr(['volume', 'ls', '-q']);
    expect(volumes).toMatchObject({ stdout: '', stderr: '', exitCode: 0 });
    const version = await tsctr(['version', '--format', '{{.Server.Version}}']);
    expect(version).toMatchObject({ stdout: '27.0.0', exitCode: 0 });
    for (const args of [
      ['container', 'prune', '-f'],
      ['image', 'prune', '-f'],
      ['volume', 'prune', '-f'],
      ['network', 'prune', '-f'],
      ['system', 'prune', '-f'],
      ['system', 'df'],
    ]) {
      const r = await tsctr(args);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.exitCode, args.join(' ')).toBe(0);
    }
  });

  it('names the endpoint when an answer is not what the API says', async () => {
    const saved = nullAnswers['/containers/json'];
    nullAnswers['/containers/json'] = [{ Id: 42 }];
    try {
      const r = await tsctr(['ps']);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/^unexpected response from GET \/containers\/json: 0\.Id: /);
    } finally {
      nullAnswers['/containers/json'] = saved;
    }
  });
});

describe('checked responses: a daemon that breaks off or does not speak HTTP', () => {
  let server: NetServer;
  let dir: string;
  let host: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-broken-'));
    server = createNetServer((socket) => {
      socket.once('data', (head: Buffer) => {
        const path = head.toString('latin1').split(' ')[1] ?? '';
        if (path.includes('/containers/json')) {
          // Promises 100 bytes, sends 10, hangs up.
          socket.end(
            'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"Id":"ab',
          );
        } else if (path.includes('/images/json')) socket.end('NOT HTTP AT ALL\r\n\r\n');
        else if (path.includes('/containers/quiet/json')) socket.end(answerClosing(quietInspect));
        else if (path.includes('/containers/quiet/logs')) {
          // One whole frame of output; a moment later the connection ends without the last chunk.
          const frame = Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 6]), Buffer.from('line1\n')]);
          socket.write(
            Buffer.concat([
              Buffer.from(
                'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nTransfer-Encoding: chunked\r\n\r\n',
              ),
              Buffer.from(`${frame.length.toString(16)}\r\n`),
              frame,
              Buffer.from('\r\n'),
            ]),
          );
          setTimeout(() => socket.end(), 100);
        } else socket.destroy();
      });
      socket.on('error', () => socket.destroy());
    });
    const socket = join(dir, 'docker.sock');
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    host = `unix://${socket}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(CLI_RUNTIMES)('fails with an error, through each transport ($name)', async (runtime) => {
    for (const [args, message] of [
      [['ps'], 'unexpected EOF: the daemon closed the connection mid-response'],
      [['images'], 'malformed HTTP response'],
      [['volume', 'ls'], 'EOF: the daemon closed the connection before answering'],
      [['logs', 'quiet'], 'unexpected EOF: the daemon closed the connection mid-response'],
    ] as const) {
      const r = await tsctrAgainst(host, dir, [...args], runtime);
      expect(r.exitCode, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toContain(message);
      expect(r.stdout, args.join(' ')).toBe(args[0] === 'logs' ? 'line1' : '');
    }
  });
});

/** The smallest `GET /containers/{id}/json` answer the CLI's schema accepts, of a container without a tty. */
const quietInspect = {
  Id: 'd'.repeat(64),
  Name: '/quiet',
  Image: `sha256:${'b'.repeat(64)}`,
  Created: '2024-01-01T00:00:00Z',
  State: { Status: 'exited', Running: false },
  Config: { Tty: false },
  HostConfig: {},
};

/** A whole JSON answer on a connection the daemon then closes. */
function answerClosing(body: unknown): string {
  const text = JSON.stringify(body);
  return `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`;
}

import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  TestRegistry,
  e2eSkip,
  registrySkipReason,
  tsctrArgv,
  useDaemon,
  useTempDir,
} from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkip('registry end-to-end tests', registrySkipReason);

describe.skipIf(skip !== undefined)('pull and push against the real registry', () => {
  const configDir = useTempDir('docker-config-');
  const daemon = useDaemon();
  let registry: TestRegistry;
  let secured: TestRegistry;

  beforeAll(async () => {
    registry = await TestRegistry.start();
    secured = await TestRegistry.start({ htpasswd: { user: 'alice', password: 's3cret' } });
  });
  afterAll(async () => {
    await registry?.stop();
    await secured?.stop();
  });

  it('pushes, removes, pulls back the same image ID and runs it', async () => {
    const name = `${registry.host}/e2e/busybox:1`;
    expect((await daemon.tsctr(['tag', 'busybox', name])).exitCode).toBe(0);
    const push = await daemon.tsctr(['push', name]);
    expect(push.exitCode).toBe(0);
    expect(push.stdout).toMatch(
      new RegExp(`^The push refers to repository \\[${registry.host}/e2e/busybox\\]`),
    );
    const digest = /^1: digest: (sha256:[a-f0-9]{64}) size: \d+$/m.exec(push.stdout)?.[1];
    expect(digest).toBeDefined();
    // The repository's last tag went, so its digest reference goes too (busybox:latest stays).
    expect((await daemon.tsctr(['rmi', name])).stdout).toBe(
      `Untagged: ${name}\nUntagged: ${registry.host}/e2e/busybox@${digest}`,
    );
    expect((await daemon.docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout).not.toContain(
      'e2e/busybox',
    );
    const pull = await daemon.tsctr(['pull', name]);
    expect(pull.exitCode).toBe(0);
    expect(pull.stdout).toContain(`Digest: ${digest}`);
    expect(pull.stdout).toContain(`Status: Downloaded newer image for ${name}`);
    expect((await daemon.tsctr(['image', 'inspect', '--format', '{{.Id}}', name])).stdout).toBe(
      daemon.busyboxId,
    );
    expect((await daemon.tsctr(['run', '--rm', name, 'echo', 'pulled'])).stdout).toBe('pulled');
    // skopeo, an independent client, reads what we pushed with the same digest.
    const inspected = JSON.parse(
      (await execa('skopeo', ['inspect', '--tls-verify=false', `docker://${name}`])).stdout,
    );
    expect(inspected.Digest).toBe(digest);
    // ...and copies it into an OCI layout with every digest kept: manifest, config (the
    // image ID) and layers, each blob hashing to its name.
    const layout = await mkdtemp(join(tmpdir(), 'skopeo-layout-'));
    try {
      await execa('skopeo', [
        'copy',
        '--quiet',
        '--preserve-digests',
        '--src-tls-verify=false',
        `docker://${name}`,
        `oci:${layout}:1`,
      ]);
      const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
      expect(index.manifests[0].digest).toBe(digest);
      const blob = (d: string) => join(layout, 'blobs', 'sha256', d.slice('sha256:'.length));
      const copied = JSON.parse(await readFile(blob(digest!), 'utf8')) as {
        config: { digest: string };
        layers: Array<{ digest: string }>;
      };
      expect(copied.config.digest).toBe(daemon.busyboxId);
      expect(copied.layers.map((l) => l.digest)).toEqual(inspected.Layers);
      for (const d of [digest!, copied.config.digest, ...copied.layers.map((l) => l.digest)])
        expect(
          `sha256:${createHash('sha256')
            .update(await readFile(blob(d)))
            .digest('hex')}`,
        ).toBe(d);
    } finally {
      await rm(layout, { recursive: true, force: true });
    }
  });

  it('round-trips a two-layer committed image (stored uncompressed) with the same ID and Docker-like output', async () => {
    const container = `reg-commit-${process.pid}`;
    const name = `${registry.host}/e2e/multi:2`;
    const run = await daemon.tsctr([
      'run',
      '--name',
      container,
      'busybox',
      'sh',
      '-c',
      'echo layered > /marker',
    ]);
    expect(run.exitCode).toBe(0);
    expect((await daemon.tsctr(['commit', container, name])).exitCode).toBe(0);
    await daemon.tsctr(['rm', container]);
    const id = (await daemon.tsctr(['image', 'inspect', '--format', '{{.Id}}', name])).stdout;
    expect(
      (await daemon.tsctr(['image', 'inspect', '--format', '{{len .RootFS.Layers}}', name])).stdout,
    ).toBe('2');
    const push = await daemon.tsctr(['push', name]);
    expect(push.exitCode).toBe(0);
    // busybox's layer went up with the first test: mounted from there, only the new layer (and,
    // without a line of its own as in Docker, the config) are sent.
    expect(push.stdout).toMatch(/^[0-9a-f]{12}: Mounted from e2e\/busybox$/m);
    expect(push.stdout.match(/: Pushed$/gm)).toHaveLength(1);
    const pushed = /^2: digest: (sha256:[a-f0-9]{64}) size: \d+$/m.exec(push.stdout)?.[1];
    // Docker's report: the tag, the digest, the image, then the one layer no other image has.
    const rmi = (await daemon.tsctr(['rmi', name])).stdout.split('\n');
    expect(rmi.slice(0, 3)).toEqual([
      `Untagged: ${name}`,
      `Untagged: ${registry.host}/e2e/multi@${pushed}`,
      `Deleted: ${id}`,
    ]);
    expect(rmi.slice(3)).toEqual([expect.stringMatching(/^Deleted: sha256:[0-9a-f]{64}$/)]);
    const pull = await daemon.tsctr(['pull', name]);
    expect(pull.exitCode).toBe(0);
    const lines = pull.stdout.split('\n');
    expect(lines[0]).toBe('2: Pulling from e2e/multi');
    // busybox's layer is still unpacked locally: Docker says "Already exists" and downloads only the new one.
    expect(lines.filter((l) => /^[0-9a-f]{12}: Already exists$/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^[0-9a-f]{12}: Pull complete$/.test(l))).toHaveLength(1);
    expect(lines.at(-3)).toMatch(/^Digest: sha256:[0-9a-f]{64}$/);
    expect(lines.at(-2)).toBe(`Status: Downloaded newer image for ${name}`);
    expect(lines.at(-1)).toBe(name);
    expect((await daemon.tsctr(['image', 'inspect', '--format', '{{.Id}}', name])).stdout).toBe(id);
    expect((await daemon.tsctr(['run', '--rm', name, 'cat', '/marker'])).stdout).toBe('layered');
    const again = await daemon.tsctr(['pull', name]);
    expect(again.stdout).toContain(`Status: Image is up to date for ${name}`);
  });

  it('says clearly that the registry has no search API', async () => {
    const r = await daemon.tsctr(['search', `${registry.host}/busybox`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      `Error response from daemon: Unexpected status code 404: the registry ${registry.host} has no search API (GET /v1/search)`,
    );
  });

  it('searches a registry that has a search API, with --limit, --filter and --format', async () => {
    const queries: string[] = [];
    const server = createServer((req, res) => {
      queries.push(req.url ?? '');
      const results = [
        {
          name: 'library/busybox',
          description: 'Busybox base image.',
          star_count: 3000,
          is_official: true,
          is_automated: false,
        },
        {
          name: 'someone/busybox-extras',
          description: 'A busybox with a very long description that goes on and on',
          star_count: 12,
          is_official: false,
          is_automated: true,
        },
        { name: 'other/bb', description: '', star_count: 0, is_official: false, is_automated: false },
      ];
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ num_results: results.length, query: 'busybox', results }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const table = await daemon.tsctr(['search', `${host}/busybox`]);
      expect(table.exitCode, table.stderr).toBe(0);
      // The empty OFFICIAL cell leaves the STARS column padded, as Go's tabwriter does.
      expect(table.stdout.split('\n')).toEqual([
        'NAME                     DESCRIPTION                                     STARS     OFFICIAL',
        'library/busybox          Busybox base image.                             3000      [OK]',
        'someone/busybox-extras   A busybox with a very long description that …   12        ',
        'other/bb                                                                 0         ',
      ]);
      expect(queries[0]).toBe('/v1/search?q=busybox&n=25');
      const filtered = await daemon.tsctr([
        'search',
        '--filter',
        'stars=10',
        '--limit',
        '2',
        '--format',
        '{{.Name}}: {{.StarCount}}',
        `${host}/busybox`,
      ]);
      expect(filtered.stdout).toBe('library/busybox: 3000\nsomeone/busybox-extras: 12');
      expect(queries[1]).toBe('/v1/search?q=busybox&n=2');
      const official = await daemon.docker(['search', '--filter', 'is-official=true', `${host}/busybox`]);
      expect(
        official.stdout
          .split('\n')
          .slice(1)
          .map((l) => l.split(/\s+/)[0]),
      ).toEqual(['library/busybox']);
    } finally {
      server.close();
    }
  });

  it('pulls an image skopeo copied into the registry and runs it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'skopeo-'));
    try {
      // skopeo reads our pushed image and writes it elsewhere in the registry under a new name.
      await execa('skopeo', [
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${registry.host}/e2e/busybox:1`,
        `oci:${join(dir, 'layout')}:bb`,
      ]);
      await execa('skopeo', [
        'copy',
        '--dest-tls-verify=false',
        `oci:${join(dir, 'layout')}:bb`,
        `docker://${registry.host}/skopeo/bb:oci`,
      ]);
      const name = `${registry.host}/skopeo/bb:oci`;
      expect((await daemon.tsctr(['pull', name])).exitCode).toBe(0);
      expect((await daemon.tsctr(['run', '--rm', name, 'sh', '-c', 'echo from-oci'])).stdout).toBe(
        'from-oci',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('pulls and runs a two-layer image skopeo pushed from an OCI layout built here', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oci-layout-'));
    try {
      const blobs = join(dir, 'layout', 'blobs', 'sha256');
      await mkdir(blobs, { recursive: true });
      const putBlob = async (data: Buffer) => {
        const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
        await writeFile(join(blobs, digest.slice(7)), data);
        return { digest, size: data.length };
      };
      const layers = [];
      const diffIds = [];
      for (const [name, files] of [
        [
          'base',
          async (root: string) => {
            await mkdir(join(root, 'bin'));
            await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
            await symlink('busybox', join(root, 'bin', 'sh'));
          },
        ],
        ['app', async (root: string) => writeFile(join(root, 'hello.txt'), 'hello from an OCI layout\n')],
      ] as const) {
        const root = join(dir, name);
        await mkdir(root);
        await files(root);
        const tar = (
          await execa('tar', ['-C', root, '--owner=0', '--group=0', '-cf', '-', '.'], { encoding: 'buffer' })
        ).stdout;
        diffIds.push(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
        layers.push({
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          ...(await putBlob(gzipSync(tar))),
        });
      }
      const config = await putBlob(
        Buffer.from(
          JSON.stringify({
            architecture: 'amd64',
            os: 'linux',
            config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
            rootfs: { type: 'layers', diff_ids: diffIds },
          }),
        ),
      );
      const manifest = await putBlob(
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
            layers,
          }),
        ),
      );
      await writeFile(join(dir, 'layout', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      await writeFile(
        join(dir, 'layout', 'index.json'),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              ...manifest,
              annotations: { 'org.opencontainers.image.ref.name': 'v1' },
            },
          ],
        }),
      );
      const name = `${registry.host}/layout/app:v1`;
      await execa('skopeo', [
        'copy',
        '--dest-tls-verify=false',
        `oci:${join(dir, 'layout')}:v1`,
        `docker://${name}`,
      ]);
      const pull = await daemon.tsctr(['pull', name]);
      expect(pull.exitCode).toBe(0);
      expect(pull.stdout).toContain(`Digest: ${manifest.digest}`);
      expect((await daemon.tsctr(['image', 'inspect', '--format', '{{.Id}}', name])).stdout).toBe(
        config.digest,
      );
      expect((await daemon.tsctr(['run', '--rm', name, 'sh', '-c', 'busybox cat /hello.txt'])).stdout).toBe(
        'hello from an OCI layout',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('works with the real docker CLI', async () => {
    const name = `${registry.host}/e2e/docker:2`;
    expect((await daemon.docker(['tag', 'busybox', name])).exitCode).toBe(0);
    expect((await daemon.docker(['push', name])).exitCode).toBe(0);
    expect((await daemon.docker(['rmi', name])).exitCode).toBe(0);
    const pull = await daemon.docker(['pull', name]);
    expect(pull.exitCode).toBe(0);
    expect(pull.stdout).toContain(`Status: Downloaded newer image for ${name}`);
  });

  it('logs in with htpasswd credentials, refuses a wrong password, and logs out', async () => {
    const env = { DOCKER_CONFIG: configDir };
    const tsctr = (args: string[], input?: string) =>
      execa(...tsctrArgv(args), {
        env: { ...daemon.env, ...env },
        reject: false,
        ...(input !== undefined ? { input } : { stdin: 'ignore' as const }),
      });
    const bad = await tsctr(['login', '-u', 'alice', '--password-stdin', secured.host], 'wrong\n');
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toBe(
      `Error response from daemon: login attempt to http://${secured.host}/v2/ failed with status: 401 Unauthorized`,
    );
    const good = await tsctr(['login', '-u', 'alice', '--password-stdin', secured.host], 's3cret\n');
    expect(good.stdout).toBe('Login Succeeded');
    const configPath = join(configDir, 'config.json');
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(configPath, 'utf8')).auths[secured.host].auth).toBe(
      Buffer.from('alice:s3cret').toString('base64'),
    );
    const name = `${secured.host}/private/bb:1`;
    await tsctr(['tag', 'busybox', name]);
    expect((await tsctr(['push', name])).exitCode).toBe(0);
    expect((await tsctr(['logout', secured.host])).stdout).toBe(
      `Removing login credentials for ${secured.host}`,
    );
    const denied = await tsctr(['pull', name]);
    expect(denied.exitCode).toBe(1);
  });

  it('pulls every tag of a repository with --all-tags', async () => {
    const repo = `${registry.host}/e2e/all`;
    for (const tag of ['a', 'b']) {
      expect((await daemon.tsctr(['tag', 'busybox', `${repo}:${tag}`])).exitCode).toBe(0);
      expect((await daemon.tsctr(['push', `${repo}:${tag}`])).exitCode).toBe(0);
      expect((await daemon.tsctr(['rmi', `${repo}:${tag}`])).exitCode).toBe(0);
    }
    const pull = await daemon.tsctr(['pull', '-a', repo]);
    expect(pull.exitCode).toBe(0);
    expect(pull.stdout).toContain('a: Pulling from e2e/all');
    expect(pull.stdout).toContain('b: Pulling from e2e/all');
    expect(pull.stdout.split('\n').at(-1)).toBe(repo);
    for (const tag of ['a', 'b'])
      expect((await daemon.tsctr(['image', 'inspect', '--format', '{{.Id}}', `${repo}:${tag}`])).stdout).toBe(
        daemon.busyboxId,
      );
  });

  it('the real docker CLI logs in, pushes and pulls through our daemon with X-Registry-Auth', async () => {
    const name = `${secured.host}/docker/bb:1`;
    const bad = await daemon.docker(['login', '-u', 'alice', '-p', 'wrong', secured.host]);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain('401 Unauthorized');
    const good = await daemon.docker(['login', '-u', 'alice', '-p', 's3cret', secured.host]);
    expect(good.exitCode).toBe(0);
    expect(good.stdout).toContain('Login Succeeded');
    expect((await daemon.docker(['tag', 'busybox', name])).exitCode).toBe(0);
    const push = await daemon.docker(['push', name]);
    expect(push.exitCode).toBe(0);
    expect(push.stdout).toMatch(/^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
    expect((await daemon.docker(['rmi', name])).exitCode).toBe(0);
    const pull = await daemon.docker(['pull', name]);
    expect(pull.exitCode).toBe(0);
    expect(pull.stdout).toContain(`Status: Downloaded newer image for ${name}`);
    expect((await daemon.docker(['logout', secured.host])).exitCode).toBe(0);
    const denied = await daemon.docker(['pull', name]);
    expect(denied.exitCode).not.toBe(0);
    expect(denied.stderr).toBe(
      `Error response from daemon: Head "http://${secured.host}/v2/docker/bb/manifests/1": no basic auth credentials`,
    );
  });

  it('fails a pull of an unknown tag with Docker’s message', async () => {
    const r = await daemon.tsctr(['pull', `${registry.host}/e2e/busybox:nosuch`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      `Error response from daemon: manifest for ${registry.host}/e2e/busybox:nosuch not found: manifest unknown: manifest unknown`,
    );
  });
});

import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestRegistry, hasRegistry } from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRegistry, REPO_ROOT } from './registry.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot)
  console.warn(
    'release round trip: the README examples are type-checked but not run (they create containers, mounts and bridges: root)',
  );

/** Every package `changeset publish` publishes: the workspace's non-private packages. */
async function publicPackages(): Promise<{ name: string; version: string; dir: string }[]> {
  const found = [];
  for (const parent of ['packages', 'apps']) {
    for (const entry of await readdir(join(REPO_ROOT, parent))) {
      const dir = join(REPO_ROOT, parent, entry);
      const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
        name: string;
        version: string;
        private?: boolean;
      };
      if (!manifest.private) found.push({ name: manifest.name, version: manifest.version, dir });
    }
  }
  return found;
}

/** A package README's example: its first ```ts block. */
async function readmeExample(pkg: string): Promise<string> {
  const readme = await readFile(join(REPO_ROOT, 'packages', pkg, 'README.md'), 'utf8');
  const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!example) throw new Error(`packages/${pkg}/README.md has no ts example`);
  return example;
}

/** An OCI image with one small layer, pushed with skopeo (not our code) to `reference`. */
async function pushTestImage(dir: string, reference: string): Promise<void> {
  const layout = join(dir, 'oci');
  const content = join(dir, 'layer-content');
  await mkdir(join(content, 'etc'), { recursive: true });
  await writeFile(join(content, 'etc', 'greeting'), 'hello\n');
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  const layer = execFileSync('tar', ['-C', content, '--owner=0', '--group=0', '-cf', '-', '.']);
  const sha = (data: Buffer | string) =>
    execFileSync('sha256sum', { input: data }).toString().split(' ')[0] as string;
  const put = async (data: Buffer | string) => {
    const digest = sha(data);
    await writeFile(join(layout, 'blobs', 'sha256', digest), data);
    return { digest: `sha256:${digest}`, size: Buffer.byteLength(data) };
  };
  const layerBlob = await put(layer);
  const config = await put(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [layerBlob.digest] },
    }),
  );
  const manifest = await put(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layerBlob }],
    }),
  );
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'app' },
        },
      ],
    }),
  );
  await execa('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:app`, `docker://${reference}`]);
}

describe('release round trip through a local npm registry', () => {
  let dir = '';
  let registry: LocalRegistry | undefined;
  let imageRegistry: TestRegistry | undefined;
  let consumer = '';
  let work = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsctr-release-'));
    registry = await LocalRegistry.start(dir);
  });

  afterAll(async () => {
    await registry?.stop();
    await imageRegistry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('`pnpm release` (build, then `changeset publish`) publishes every public package, built, with its LICENSE', async () => {
    const r = registry!;
    // No git tags: this is a rehearsal against a throwaway registry.
    const result = await execa('pnpm', ['run', 'release', '--no-git-tag'], {
      cwd: REPO_ROOT,
      env: r.env,
      extendEnv: false,
      reject: false,
      all: true,
    });
    expect(result.exitCode, `${result.all}\n${r.output()}`).toBe(0);
    for (const pkg of await publicPackages()) {
      expect(await r.versions(pkg.name), pkg.name).toContain(pkg.version);
      // What a user downloads: dist with types (libraries), the LICENSE, no workspace: or catalog: ranges.
      const packument = (await (await fetch(`${r.url}${pkg.name.replace('/', '%2f')}`)).json()) as {
        versions: Record<string, { dist: { tarball: string }; dependencies?: Record<string, string> }>;
      };
      const published = packument.versions[pkg.version]!;
      expect(JSON.stringify(published.dependencies ?? {})).not.toMatch(/workspace:|catalog:/);
      const tgz = join(dir, `${pkg.name.replace('/', '-')}.tgz`);
      await writeFile(tgz, Buffer.from(await (await fetch(published.dist.tarball)).arrayBuffer()));
      const files = execFileSync('tar', ['-tzf', tgz]).toString().split('\n');
      expect(files, pkg.name).toContain('package/LICENSE');
      expect(files, pkg.name).toContain('package/dist/index.js');
      if (pkg.dir.includes('/packages/')) expect(files, pkg.name).toContain('package/dist/index.d.ts');
      expect(
        files.filter((f) => f.startsWith('package/src/')),
        pkg.name,
      ).toEqual([]);
    }
  });

  it('installs the libraries in a fresh project whose strict NodeNext TypeScript compiles the README examples', async () => {
    const r = registry!;
    consumer = join(dir, 'consumer');
    work = join(dir, 'work');
    await mkdir(join(consumer, 'src'), { recursive: true });
    await mkdir(work, { recursive: true });
    await writeFile(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
    );
    await execa(
      'npm',
      [
        'install',
        '--no-package-lock',
        '@ts-container/runtime',
        '@ts-container/image',
        '@ts-container/registry',
        '@ts-container/unionfs',
        '@ts-container/network',
        'typescript@5',
        '@types/node@20',
      ],
      { cwd: consumer, env: r.env, extendEnv: false },
    );
    // The tsconfig the READMEs tell ESM consumers to use.
    await writeFile(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: false,
          outDir: 'dist',
        },
        include: ['src'],
      }),
    );
    // The examples as written; only the places they name on this machine move into the test's directory.
    const places: [string, string][] = [
      ['/tmp/demo', join(work, 'demo')],
      ['/srv/rootfs', join(work, 'rootfs')],
      ['/run/my-app', join(work, 'run')],
      ["'/my-app/demo-1'", `'/tsctr-test/release-${process.pid}'`],
    ];
    for (const pkg of ['runtime', 'image', 'registry', 'unionfs', 'network']) {
      let example = await readmeExample(pkg);
      for (const [from, to] of places) example = example.split(from).join(to);
      await writeFile(join(consumer, 'src', `${pkg}.ts`), example);
    }
    const tsc = await execa(join(consumer, 'node_modules/.bin/tsc'), ['-p', consumer], {
      reject: false,
      all: true,
    });
    expect(tsc.exitCode, tsc.all).toBe(0);
  });

  it.skipIf(!isRoot)("runs @ts-container/runtime's README example with a real container", async () => {
    execFileSync(join(REPO_ROOT, 'tools/images/make-busybox-rootfs'), [
      join(work, 'rootfs.tar'),
      join(work, 'rootfs'),
    ]);
    const run = await execa(process.execPath, [join(consumer, 'dist/runtime.js')], {
      cwd: work,
      all: true,
      reject: false,
    });
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout).toBe('hello from demo\n 3 false');
  });

  it.skipIf(!isRoot)("runs @ts-container/image's README example", async () => {
    // The layer.tar it reads from its working directory.
    await mkdir(join(work, 'layer', 'etc'), { recursive: true });
    await writeFile(join(work, 'layer', 'etc', 'motd'), 'hi\n');
    execFileSync('tar', ['-C', join(work, 'layer'), '-cf', join(work, 'layer.tar'), '.']);
    const run = await execa(process.execPath, [join(consumer, 'dist/image.js')], {
      cwd: work,
      all: true,
      reject: false,
    });
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout).toBe('busybox:latest');
    expect(await readFile(join(work, 'demo', 'rootfs', 'etc', 'motd'), 'utf8')).toBe('hi\n');
  });

  it.skipIf(!isRoot || !hasRegistry())(
    "runs @ts-container/registry's README example against a real registry",
    async () => {
      imageRegistry = await TestRegistry.start();
      await pushTestImage(join(work, 'push'), `${imageRegistry.host}/team/app:1`);
      const script = (await readFile(join(consumer, 'dist/registry.js'), 'utf8'))
        .split('127.0.0.1:5000')
        .join(imageRegistry.host);
      await writeFile(join(consumer, 'dist/registry-here.js'), script);
      const run = await execa(process.execPath, [join(consumer, 'dist/registry-here.js')], {
        cwd: work,
        all: true,
        reject: false,
      });
      expect(run.exitCode, run.all).toBe(0);
      // Progress lines as docker pull prints them, then the manifest digest and the layer's DiffID.
      expect(run.stdout).toContain('1 Pulling from team/app\n');
      expect(run.stdout).toMatch(/^sha256:[0-9a-f]{64} \[\s+'sha256:[0-9a-f]{64}'\s+\]$/m);
    },
  );

  it.skipIf(!isRoot)("runs @ts-container/unionfs's README example", async () => {
    // The rootfs.tar it reads from its working directory (made above).
    const run = await execa(process.execPath, [join(consumer, 'dist/unionfs.js')], {
      cwd: work,
      all: true,
      reject: false,
    });
    expect(run.exitCode, run.all).toBe(0);
  });

  it.skipIf(!isRoot)("runs @ts-container/network's README example", async () => {
    const run = await execa(process.execPath, [join(consumer, 'dist/network.js')], {
      cwd: work,
      all: true,
      reject: false,
    });
    expect(run.exitCode, run.all).toBe(0);
  });

  it('installs @ts-container/tsctr globally (into a private prefix) and runs `tsctr --version`', async () => {
    const r = registry!;
    const prefix = join(dir, 'global');
    await execa('npm', ['install', '--global', '--prefix', prefix, '@ts-container/tsctr'], {
      env: r.env,
      extendEnv: false,
    });
    const version = await execa(join(prefix, 'bin', 'tsctr'), ['--version']);
    expect(version.stdout).toMatch(/^tsctr version \d+\.\d+\.\d+/);
    // The bundle carries its dependencies: nothing else was installed beside it.
    expect(await readdir(join(prefix, 'lib', 'node_modules', '@ts-container'))).toEqual(['tsctr']);
  });
});

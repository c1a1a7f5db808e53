import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDaemon, TestRegistry, e2eSkipReason, hasRegistry } from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkipReason() ?? (hasRegistry() ? undefined : 'docker-registry is not installed');
if (skip) console.warn(`registry end-to-end tests skipped: ${skip}`);

describe.skipIf(skip !== undefined)('pull and push against the real registry', () => {
  let daemon: TestDaemon;
  let registry: TestRegistry;
  let secured: TestRegistry;
  let imageId: string;
  let configDir: string;

  beforeAll(async () => {
    daemon = await TestDaemon.start();
    imageId = await daemon.importBusybox();
    registry = await TestRegistry.start();
    secured = await TestRegistry.start({ htpasswd: { user: 'alice', password: 's3cret' } });
    configDir = await mkdtemp(join(tmpdir(), 'docker-config-'));
  });
  afterAll(async () => {
    await daemon?.destroy();
    await registry?.stop();
    await secured?.stop();
    await rm(configDir, { recursive: true, force: true });
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
    expect((await daemon.tsctr(['rmi', name])).stdout).toBe(`Untagged: ${name}`);
    const pull = await daemon.tsctr(['pull', name]);
    expect(pull.exitCode).toBe(0);
    expect(pull.stdout).toContain(`Digest: ${digest}`);
    expect(pull.stdout).toContain(`Status: Downloaded newer image for ${name}`);
    expect((await daemon.tsctr(['image', 'inspect', '--format', '{{.Id}}', name])).stdout).toBe(imageId);
    expect((await daemon.tsctr(['run', '--rm', name, 'echo', 'pulled'])).stdout).toBe('pulled');
    // skopeo, an independent client, reads what we pushed with the same digest.
    const inspected = JSON.parse(
      (await execa('skopeo', ['inspect', '--tls-verify=false', `docker://${name}`])).stdout,
    );
    expect(inspected.Digest).toBe(digest);
  });

  it('says clearly that the registry has no search API', async () => {
    const r = await daemon.tsctr(['search', 'busybox']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('the registry has no search API');
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
      execa(process.execPath, [join(__dirname, '../dist/index.js'), ...args], {
        env: { ...daemon.env, ...env },
        reject: false,
        ...(input !== undefined ? { input } : { stdin: 'ignore' as const }),
      });
    const bad = await tsctr(['login', '-u', 'alice', '--password-stdin', secured.host], 'wrong\n');
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('unauthorized: incorrect username or password');
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

  it('fails a pull of an unknown tag with Docker’s message', async () => {
    const r = await daemon.tsctr(['pull', `${registry.host}/e2e/busybox:nosuch`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      `Error response from daemon: manifest for ${registry.host}/e2e/busybox:nosuch not found: manifest unknown: manifest unknown`,
    );
  });
});

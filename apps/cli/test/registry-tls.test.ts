import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDaemon, e2eSkipReason, hasRegistry } from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkipReason() ?? (hasRegistry() ? undefined : 'docker-registry is not installed');
if (skip) console.warn(`TLS registry tests skipped: ${skip}`);

/**
 * A registry that must be verified: loopback registries skip TLS verification (Docker's rule),
 * so this one listens in a network namespace the test creates, on 10.250.N.2, reached over a
 * veth pair from the host.
 */
describe.skipIf(skip !== undefined)('a TLS registry with its own CA (certs.d)', () => {
  const n = process.pid % 250;
  const ns = `tsctrca${process.pid}`;
  const hostVeth = `vca${process.pid}h`.slice(0, 15);
  const nsVeth = `vca${process.pid}n`.slice(0, 15);
  const ip = `10.250.${n}.2`;
  const host = `${ip}:5443`;
  /** The same registry again, requiring a client certificate signed by the CA (mutual TLS). */
  const mtlsHost = `${ip}:5444`;
  let dir: string;
  let certsDir: string;
  let registry: ChildProcess | undefined;
  let mtlsRegistry: ChildProcess | undefined;
  let daemon: TestDaemon;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'registry-tls-'));
    certsDir = join(dir, 'certs.d');
    await mkdir(certsDir);
    const ssl = (args: string[]) => execa('openssl', args, { cwd: dir });
    await ssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '1',
      '-subj',
      '/CN=tsctr test CA',
    ]);
    /** A key and a certificate for `subject` signed by the test CA, with one extension line. */
    const signed = async (name: string, cert: string, subject: string, extension: string) => {
      await ssl([
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        subject,
      ]);
      await writeFile(join(dir, `${name}-ext.cnf`), `${extension}\n`);
      await ssl([
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        cert,
        '-days',
        '1',
        '-extfile',
        `${name}-ext.cnf`,
      ]);
    };
    await signed('server', 'server.crt', `/CN=${ip}`, `subjectAltName=IP:${ip}`);
    await signed('client', 'client.cert', '/CN=tsctr client', 'extendedKeyUsage=clientAuth');
    const registryConfig = (addr: string, data: string, clientCas: boolean) =>
      [
        'version: 0.1',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, data)}`,
        'http:',
        `  addr: ${addr}`,
        '  tls:',
        `    certificate: ${join(dir, 'server.crt')}`,
        `    key: ${join(dir, 'server.key')}`,
        ...(clientCas ? ['    clientcas:', `      - ${join(dir, 'ca.crt')}`] : []),
        '',
      ].join('\n');
    await writeFile(join(dir, 'config.yml'), registryConfig(host, 'data', false));
    await writeFile(join(dir, 'mtls.yml'), registryConfig(mtlsHost, 'mtls-data', true));
    await execa('ip', ['netns', 'add', ns]);
    await execa('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', nsVeth]);
    await execa('ip', ['link', 'set', nsVeth, 'netns', ns]);
    await execa('ip', ['addr', 'add', `10.250.${n}.1/30`, 'dev', hostVeth]);
    await execa('ip', ['link', 'set', hostVeth, 'up']);
    await execa('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${ip}/30`, 'dev', nsVeth]);
    await execa('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', nsVeth, 'up']);
    registry = spawn('ip', ['netns', 'exec', ns, 'docker-registry', 'serve', join(dir, 'config.yml')], {
      stdio: 'ignore',
    });
    mtlsRegistry = spawn('ip', ['netns', 'exec', ns, 'docker-registry', 'serve', join(dir, 'mtls.yml')], {
      stdio: 'ignore',
    });
    for (let i = 0, port = 5443; i < 100 && port <= 5444; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const req = request(
          {
            host: ip,
            port,
            path: '/v2/',
            rejectUnauthorized: false,
            timeout: 500,
            cert: readFileSync(join(dir, 'client.cert')),
            key: readFileSync(join(dir, 'client.key')),
          },
          (res) => {
            res.resume();
            resolve(true);
          },
        );
        req.on('error', () => resolve(false));
        req.on('timeout', () => req.destroy());
        req.end();
      });
      if (up) port++;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    daemon = await TestDaemon.start({ args: ['--certs-dir', certsDir] });
    await daemon.importBusybox();
  });
  afterAll(async () => {
    await daemon?.destroy();
    registry?.kill();
    mtlsRegistry?.kill();
    await execa('ip', ['netns', 'del', ns], { reject: false });
    await execa('ip', ['link', 'del', hostVeth], { reject: false });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a registry whose CA it does not know, with Go’s x509 wording', async () => {
    expect((await daemon.tsctr(['tag', 'busybox', `${host}/tls/busybox:1`])).exitCode).toBe(0);
    const r = await daemon.tsctr(['push', `${host}/tls/busybox:1`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      `Get "https://${host}/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
    );
  });

  it('trusts it once its CA is in certs.d/<host:port>/ca.crt: push, pull and run', async () => {
    await mkdir(join(certsDir, host));
    await copyFile(join(dir, 'ca.crt'), join(certsDir, host, 'ca.crt'));
    const push = await daemon.tsctr(['push', `${host}/tls/busybox:1`]);
    expect(push.exitCode, push.stderr).toBe(0);
    expect(push.stdout).toMatch(/^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
    expect((await daemon.tsctr(['rmi', `${host}/tls/busybox:1`])).exitCode).toBe(0);
    const pull = await daemon.tsctr(['pull', `${host}/tls/busybox:1`]);
    expect(pull.exitCode, pull.stderr).toBe(0);
    expect((await daemon.tsctr(['run', '--rm', `${host}/tls/busybox:1`, 'echo', 'verified'])).stdout).toBe(
      'verified',
    );
  });

  it('presents the client certificate of certs.d/<host:port>/client.cert + client.key (mutual TLS)', async () => {
    const hostDir = join(certsDir, mtlsHost);
    await mkdir(hostDir);
    await copyFile(join(dir, 'ca.crt'), join(hostDir, 'ca.crt'));
    expect((await daemon.tsctr(['tag', 'busybox', `${mtlsHost}/tls/busybox:1`])).exitCode).toBe(0);
    // The CA alone is not enough: the registry asks for a client certificate.
    const refused = await daemon.tsctr(['push', `${mtlsHost}/tls/busybox:1`]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/certificate/i);

    // A certificate without its key is refused before any connection, in Docker's words.
    await copyFile(join(dir, 'client.cert'), join(hostDir, 'client.cert'));
    const keyless = await daemon.tsctr(['push', `${mtlsHost}/tls/busybox:1`]);
    expect(keyless.exitCode).toBe(1);
    expect(keyless.stderr).toContain(
      'missing key client.key for client certificate client.cert. CA certificates must use the extension .crt',
    );

    await copyFile(join(dir, 'client.key'), join(hostDir, 'client.key'));
    const push = await daemon.tsctr(['push', `${mtlsHost}/tls/busybox:1`]);
    expect(push.exitCode, push.stderr).toBe(0);
    expect((await daemon.tsctr(['rmi', `${mtlsHost}/tls/busybox:1`])).exitCode).toBe(0);
    const pull = await daemon.tsctr(['pull', `${mtlsHost}/tls/busybox:1`]);
    expect(pull.exitCode, pull.stderr).toBe(0);
  });
});

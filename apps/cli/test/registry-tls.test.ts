import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CertificateAuthority,
  type IssuedCertificate,
  TestRegistry,
  e2eSkip,
  makeCertificateAuthority,
  registrySkipReason,
  useDaemon,
  useTempDir,
} from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkip('TLS registry tests', registrySkipReason);

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
  const dir = useTempDir('registry-tls-');
  const certsDir = join(dir, 'certs.d');
  let ca: CertificateAuthority;
  let client: IssuedCertificate;
  let registry: TestRegistry | undefined;
  let mtlsRegistry: TestRegistry | undefined;

  // Before the daemon's hooks: the daemon reads certs.d, and the namespace outlives the daemon.
  beforeAll(async () => {
    await mkdir(certsDir);
    ca = await makeCertificateAuthority(join(dir, 'ca'));
    const server = await ca.issue('server', { commonName: ip, subjectAltNames: [`IP:${ip}`] });
    client = await ca.issue('client', { commonName: 'tsctr client', extendedKeyUsage: 'clientAuth' });
    await execa('ip', ['netns', 'add', ns]);
    await execa('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', nsVeth]);
    await execa('ip', ['link', 'set', nsVeth, 'netns', ns]);
    await execa('ip', ['addr', 'add', `10.250.${n}.1/30`, 'dev', hostVeth]);
    await execa('ip', ['link', 'set', hostVeth, 'up']);
    await execa('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${ip}/30`, 'dev', nsVeth]);
    await execa('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', nsVeth, 'up']);
    registry = await TestRegistry.start({ host: ip, port: 5443, netns: ns, tls: server });
    mtlsRegistry = await TestRegistry.start({
      host: ip,
      port: 5444,
      netns: ns,
      tls: { ...server, clientCa: ca.cert },
    });
  });
  afterAll(async () => {
    await registry?.stop();
    await mtlsRegistry?.stop();
    await execa('ip', ['netns', 'del', ns], { reject: false });
    await execa('ip', ['link', 'del', hostVeth], { reject: false });
  });
  const daemon = useDaemon({ args: ['--certs-dir', certsDir] });

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
    await copyFile(ca.cert, join(certsDir, host, 'ca.crt'));
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
    await copyFile(ca.cert, join(hostDir, 'ca.crt'));
    expect((await daemon.tsctr(['tag', 'busybox', `${mtlsHost}/tls/busybox:1`])).exitCode).toBe(0);
    // The CA alone is not enough: the registry asks for a client certificate.
    const refused = await daemon.tsctr(['push', `${mtlsHost}/tls/busybox:1`]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/certificate/i);

    // A certificate without its key is refused before any connection, in Docker's words.
    await copyFile(client.cert, join(hostDir, 'client.cert'));
    const keyless = await daemon.tsctr(['push', `${mtlsHost}/tls/busybox:1`]);
    expect(keyless.exitCode).toBe(1);
    expect(keyless.stderr).toContain(
      'missing key client.key for client certificate client.cert. CA certificates must use the extension .crt',
    );

    await copyFile(client.key, join(hostDir, 'client.key'));
    const push = await daemon.tsctr(['push', `${mtlsHost}/tls/busybox:1`]);
    expect(push.exitCode, push.stderr).toBe(0);
    expect((await daemon.tsctr(['rmi', `${mtlsHost}/tls/busybox:1`])).exitCode).toBe(0);
    const pull = await daemon.tsctr(['pull', `${mtlsHost}/tls/busybox:1`]);
    expect(pull.exitCode, pull.stderr).toBe(0);
  });
});

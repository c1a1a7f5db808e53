import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function hasRegistry(): boolean {
  // A unit run (test:unit) starts no daemons.
  if (process.env.TSCTR_TEST_UNIT) return false;
  try {
    execFileSync('sh', ['-c', 'command -v docker-registry']);
    return true;
  } catch {
    return false;
  }
}

/** Why registry tests cannot run here, or undefined when they can. */
export function registrySkipReason(): string | undefined {
  if (process.env.TSCTR_TEST_UNIT) return 'a unit run (test:unit) starts no registry';
  return hasRegistry() ? undefined : 'docker-registry is not installed (tools/bootstrap installs it)';
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 500 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export interface TestRegistryOptions {
  htpasswd?: { user: string; password: string };
  /**
   * Bearer-token auth (distribution's `auth: token`): clients are sent to `realm` (a token
   * server the test runs) for a JWT signed by a key whose certificate is in `rootCertBundle`.
   */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Serve HTTPS with this certificate; with `clientCa`, require client certificates it signed. */
  tls?: { cert: string; key: string; clientCa?: string };
  /** Where to listen (default: 127.0.0.1 on a free port). */
  host?: string;
  port?: number;
  /** Run it inside this network namespace (`ip netns exec`). */
  netns?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** The real registry (Debian's docker-registry), on loopback unless told otherwise. */
export class TestRegistry {
  private constructor(
    readonly dir: string,
    readonly address: string,
    readonly port: number,
    private readonly proc: ChildProcess,
  ) {}

  /** `address:port`, the registry part of an image reference. */
  get host(): string {
    return `${this.address}:${this.port}`;
  }

  /** The real registry (Debian's docker-registry) with its own storage, ready to serve. */
  static async start(options: TestRegistryOptions = {}): Promise<TestRegistry> {
    const dir = await mkdtemp(join(tmpdir(), 'tsctr-registry-'));
    const address = options.host ?? '127.0.0.1';
    const port = options.port ?? (await freePort());
    let auth = '';
    if (options.htpasswd) {
      const line = execFileSync('htpasswd', [
        '-Bbn',
        options.htpasswd.user,
        options.htpasswd.password,
      ]).toString();
      await writeFile(join(dir, 'htpasswd'), line);
      auth = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${join(dir, 'htpasswd')}\n`;
    }
    if (options.token) {
      if (options.htpasswd) throw new Error('a test registry takes one kind of auth: htpasswd or token');
      const { realm, service, issuer, rootCertBundle } = options.token;
      auth = [
        'auth:',
        '  token:',
        `    realm: ${realm}`,
        `    service: ${service}`,
        `    issuer: ${issuer}`,
        `    rootcertbundle: ${rootCertBundle}`,
        '',
      ].join('\n');
    }
    await writeFile(
      join(dir, 'config.yml'),
      [
        'version: 0.1',
        'log:',
        '  level: error',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: ${address}:${port}`,
        ...(options.tls
          ? [
              '  tls:',
              `    certificate: ${options.tls.cert}`,
              `    key: ${options.tls.key}`,
              ...(options.tls.clientCa ? ['    clientcas:', `      - ${options.tls.clientCa}`] : []),
            ]
          : []),
        auth,
      ].join('\n'),
    );
    const serve = ['serve', join(dir, 'config.yml')];
    const proc = options.netns
      ? spawn('ip', ['netns', 'exec', options.netns, 'docker-registry', ...serve], { stdio: 'ignore' })
      : spawn('docker-registry', serve, { stdio: 'ignore' });
    const registry = new TestRegistry(dir, address, port, proc);
    // It listens once it is ready to serve.
    for (let i = 0; i < 100; i++) {
      if (await accepts(address, port)) return registry;
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await registry.stop();
    throw new Error(`docker-registry did not start on ${registry.host}`);
  }

  async stop(): Promise<void> {
    this.proc.kill('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }
}

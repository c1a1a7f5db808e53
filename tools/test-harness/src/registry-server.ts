import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function hasRegistry(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v docker-registry']);
    return true;
  } catch {
    return false;
  }
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

/** The real registry (Debian's docker-registry) on loopback, with its own storage. */
export class TestRegistry {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly proc: ChildProcess,
  ) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(options: { htpasswd?: { user: string; password: string } } = {}): Promise<TestRegistry> {
    const dir = await mkdtemp(join(tmpdir(), 'tsctr-registry-'));
    const port = await freePort();
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
    await writeFile(
      join(dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
    );
    const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    const registry = new TestRegistry(dir, port, proc);
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`http://${registry.host}/v2/`).then(
        () => true,
        () => false,
      );
      if (ok) return registry;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('docker-registry did not start');
  }

  async stop(): Promise<void> {
    this.proc.kill('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }
}

import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where packages not published here come from (zod, execa, typescript…). */
const UPSTREAM = process.env.TSCTR_UPSTREAM_REGISTRY ?? 'https://registry.npmjs.org/';

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
    server.on('error', fail);
  });
}

/**
 * The environment for npm and pnpm talking to this registry only: pnpm's own `npm_config_*`
 * settings of the running `pnpm test` are dropped, the user's ~/.npmrc is replaced.
 */
function clientEnv(url: string, npmrc: string, cache: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || /^(npm|pnpm)_/i.test(key)) continue;
    env[key] = value;
  }
  return {
    ...env,
    npm_config_registry: url,
    npm_config_userconfig: npmrc,
    npm_config_cache: cache,
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
}

/**
 * A Verdaccio on loopback with its storage in `dir`: `@ts-container/*` only from what is
 * published to it (never looked up upstream), everything else proxied from the npm registry.
 */
export class LocalRegistry {
  private constructor(
    readonly url: string,
    /** Environment for npm/pnpm clients: this registry, a publish token, a private cache. */
    readonly env: Record<string, string>,
    private readonly proc: ChildProcess,
    private readonly log: () => string,
  ) {}

  static async start(dir: string): Promise<LocalRegistry> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const config = join(dir, 'verdaccio.yaml');
    await writeFile(
      config,
      [
        `storage: ${join(dir, 'storage')}`,
        'auth:',
        '  htpasswd:',
        `    file: ${join(dir, 'htpasswd')}`,
        '    max_users: 10',
        'uplinks:',
        '  npmjs:',
        `    url: ${UPSTREAM}`,
        '    timeout: 60s',
        'packages:',
        "  '@ts-container/*':",
        '    access: $all',
        '    publish: $authenticated',
        "  '**':",
        '    access: $all',
        '    proxy: npmjs',
        'max_body_size: 100mb',
        'web:',
        '  enable: false',
        'log: { type: stdout, format: pretty, level: warn }',
        '',
      ].join('\n'),
    );
    const require = createRequire(import.meta.url);
    const manifest = require.resolve('verdaccio/package.json');
    const { bin } = JSON.parse(await readFile(manifest, 'utf8')) as { bin: string | Record<string, string> };
    const script = typeof bin === 'string' ? bin : bin.verdaccio;
    if (!script) throw new Error('the verdaccio package names no verdaccio binary');
    const proc = spawn(
      process.execPath,
      [join(dirname(manifest), script), '--config', config, '--listen', `127.0.0.1:${port}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    proc.stdout?.on('data', (c: Buffer) => {
      output += c.toString();
    });
    proc.stderr?.on('data', (c: Buffer) => {
      output += c.toString();
    });
    const log = () => output;
    for (let i = 0; ; i++) {
      if (proc.exitCode !== null) throw new Error(`verdaccio exited: ${output}`);
      const up = await fetch(`${url}-/ping`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      if (i > 300) {
        proc.kill();
        throw new Error(`verdaccio did not answer on ${url}: ${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // A user for publishing (Verdaccio's htpasswd adduser, as `npm adduser` does it).
    const user = await fetch(`${url}-/user/org.couchdb.user:release`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'release', password: 'release-test', type: 'user', roles: [] }),
    });
    const { token } = (await user.json()) as { token?: string };
    if (!user.ok || !token) throw new Error(`verdaccio refused the user: ${user.status} ${output}`);
    const npmrc = join(dir, '.npmrc');
    await writeFile(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
    return new LocalRegistry(url, clientEnv(url, npmrc, join(dir, 'npm-cache')), proc, log);
  }

  /** The versions of a package the registry holds. */
  async versions(name: string): Promise<string[]> {
    const response = await fetch(`${this.url}${name.replace('/', '%2f')}`);
    if (response.status === 404) return [];
    const doc = (await response.json()) as { versions?: Record<string, unknown> };
    return Object.keys(doc.versions ?? {});
  }

  output(): string {
    return this.log();
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

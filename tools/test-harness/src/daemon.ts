import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, openSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineClient } from '@ts-container/api';
import { execa } from 'execa';
import { CLI_BIN, type CliRuntime, tsctrArgv } from './cli-runtime.js';

export { CLI_BIN };

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const DAEMON_BIN = join(REPO_ROOT, 'apps/daemon/dist/index.js');
export const DOCKER_CLI = '/usr/local/bin/docker';
export const isRoot = process.getuid?.() === 0;

/** Why end-to-end tests cannot run here, or undefined when they can. */
export function e2eSkipReason(): string | undefined {
  if (process.env.TSCTR_TEST_UNIT) return 'a unit run (test:unit) starts no daemon';
  if (!isRoot) return 'needs root (mounts, namespaces, cgroups)';
  if (!existsSync(DAEMON_BIN) || !existsSync(CLI_BIN)) return 'apps are not built: run `pnpm build` first';
  for (const tool of ['runc', 'conmon']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return `${tool} is missing: run tools/bootstrap`;
    }
  }
  return undefined;
}

let busyboxTar: Promise<string> | undefined;

/**
 * A busybox rootfs tarball, made once per machine for its script and busybox binary and shared
 * by every test process (one per process was never removed: thousands of them piled up in /tmp).
 */
export function busyboxRootfsTar(): Promise<string> {
  busyboxTar ??= (async () => {
    const script = join(REPO_ROOT, 'tools/images/make-busybox-rootfs');
    const binary = await stat(process.env.BUSYBOX ?? '/bin/busybox');
    const key = createHash('sha256')
      .update(await readFile(script))
      .update(`${binary.size}:${binary.mtimeMs}:${binary.ino}`)
      .digest('hex')
      .slice(0, 16);
    const out = join(tmpdir(), `tsctr-busybox-${key}.tar`);
    if (existsSync(out)) return out;
    // Made under a name of its own and renamed into place: processes racing each make one.
    const partial = `${out}.${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await execa(script, [partial]);
      await rename(partial, out);
    } finally {
      await rm(partial, { force: true });
    }
    return out;
  })();
  return busyboxTar;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

let counter = 0;

/** A private `tsctrd` on its own socket, data root, exec root and cgroup parent. */
export class TestDaemon {
  readonly socketPath: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly cgroupParent: string;
  /** Each test daemon has its own default bridge and firewall table (named after it). */
  readonly bridge: string;
  readonly client: EngineClient;
  private process: ChildProcess | undefined;
  private importedBusybox: string | undefined;

  private constructor(readonly dir: string) {
    this.socketPath = join(dir, 'tsctr.sock');
    this.dataRoot = join(dir, 'data');
    this.execRoot = join(dir, 'run');
    this.cgroupParent = `/tsctr-test-${process.pid}-${counter}`;
    // Interface names have at most 15 characters.
    this.bridge = `tt${process.pid % 100000}x${counter++}`.slice(0, 15);
    this.client = new EngineClient(this.socketPath);
  }

  /** Extra `tsctrd` flags for this daemon (e.g. `--certs-dir`), kept across `launch()`es. */
  extraArgs: string[] = [];

  /**
   * `dirMode`: the test directory's mode (mkdtemp makes it 0700; a `--userns-remap` daemon
   * needs o+x on every directory above its data root).
   */
  static async start(options: { args?: string[]; dirMode?: number } = {}): Promise<TestDaemon> {
    const daemon = TestDaemon.create();
    await daemon.start(options);
    return daemon;
  }

  /**
   * A daemon whose paths are known now and which `start()` brings up later: `useDaemon` hands it
   * to a describe block at collection time, before any hook has run.
   */
  static create(): TestDaemon {
    // Six characters, as mkdtemp's: paths below the exec root (attach sockets that socat opens)
    // come near the 108 bytes a unix socket path may have; six more break `run -i`.
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    const suffix = [...randomBytes(6)].map((b) => alphabet[b % alphabet.length]).join('');
    return new TestDaemon(join(tmpdir(), `tsctr-e2e-${suffix}`));
  }

  /** Makes the daemon's directory (mode 0700 unless `dirMode`) and launches it. */
  async start(options: { args?: string[]; dirMode?: number } = {}): Promise<void> {
    await mkdir(this.dir, { mode: 0o700 });
    if (options.dirMode !== undefined) await chmod(this.dir, options.dirMode);
    this.extraArgs = options.args ?? [];
    await this.launch();
  }

  /** Whether its process is up (it may have been stopped, killed or never started). */
  get running(): boolean {
    return this.process !== undefined && this.process.exitCode === null;
  }

  get env(): Record<string, string> {
    return { DOCKER_HOST: `unix://${this.socketPath}` };
  }

  get logPath(): string {
    return join(this.dir, 'tsctrd.log');
  }

  async launch(): Promise<void> {
    const log = openSync(this.logPath, 'a');
    this.process = spawn(
      process.execPath,
      [
        DAEMON_BIN,
        '-H',
        `unix://${this.socketPath}`,
        '--data-root',
        this.dataRoot,
        '--exec-root',
        this.execRoot,
        '--cgroup-parent',
        this.cgroupParent,
        '--bridge',
        this.bridge,
        ...this.extraArgs,
      ],
      { stdio: ['ignore', log, log] },
    );
    for (let i = 0; i < 200; i++) {
      if (await this.client.ping()) return;
      if (this.process.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`tsctrd did not start:\n${await readFile(this.logPath, 'utf8').catch(() => '')}`);
  }

  /** Simulates a crash: SIGKILL, no cleanup. Containers must survive under their monitors. */
  async kill9(): Promise<void> {
    const p = this.process;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const p = this.process;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }

  /** Runs `tsctr` against this daemon. */
  async tsctr(
    args: string[],
    options: { input?: string; runtime?: CliRuntime } = {},
  ): Promise<CommandResult> {
    const [program, argv] = tsctrArgv(args, options.runtime);
    const r = await execa(program, argv, {
      env: this.env,
      reject: false,
      ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' }),
    });
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  }

  /** Runs the real docker CLI against this daemon. */
  async docker(args: string[]): Promise<CommandResult> {
    const r = await execa(DOCKER_CLI, args, {
      env: { ...this.env, DOCKER_CONFIG: join(this.dir, 'docker-config') },
      reject: false,
      stdin: 'ignore',
    });
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  }

  async importBusybox(reference = 'busybox:latest'): Promise<string> {
    const r = await this.tsctr(['import', '-c', 'CMD ["sh"]', await busyboxRootfsTar(), reference]);
    if (r.exitCode !== 0) throw new Error(`import failed: ${r.stderr}`);
    this.importedBusybox = r.stdout.trim();
    return this.importedBusybox;
  }

  /** The image id of the last `importBusybox()` (the one `useDaemon` made, by default). */
  get busyboxId(): string {
    if (this.importedBusybox === undefined) throw new Error('busybox was not imported into this daemon');
    return this.importedBusybox;
  }

  /** Stops the daemon, removes every container it made, and deletes its directories. */
  async destroy(): Promise<void> {
    if (this.process?.exitCode === null) {
      const list = (await this.tsctr(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (list.length > 0) await this.tsctr(['rm', '-f', ...list]);
    }
    await this.stop();
    await execa(
      'sh',
      ['-c', `grep -o ' ${this.dir}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`],
      { reject: false },
    );
    // The daemon leaves kernel network state for containers that outlive it; tests do not.
    await execa('ip', ['link', 'del', this.bridge], { reject: false });
    await execa('nft', ['delete', 'table', 'ip', `tsctr_${this.bridge}`], { reject: false });
    // And the (now empty) cgroup parent in every hierarchy: rmdir, deepest first, as cgroup
    // directories go; one still holding a process stays and says so.
    await execa(
      'sh',
      [
        '-c',
        `find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name '${this.cgroupParent.slice(1)}' | while read -r d; do find "$d" -depth -type d -exec rmdir {} +; done`,
      ],
      { reject: false },
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}

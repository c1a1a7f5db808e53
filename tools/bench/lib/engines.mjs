import { spawn } from 'node:child_process';
// The engines under test, each started privately on temp roots so the suite never touches a
// daemon or store someone else uses, and stopped (with everything it left in the kernel)
// afterwards: our tsctrd, Debian's dockerd (+ its managed containerd) and podman (no daemon).
import { existsSync, openSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  DOCKER_CLI,
  Engine,
  REPO_ROOT,
  TSCTRD_BIN,
  TSCTR_BIN,
  TSCTR_COMPILED,
  commandExists,
  findPids,
  killQuietly,
  rmCgroup,
  tag,
  umountUnder,
} from './engine-base.mjs';
import { alive, run, sh, sleep, unixRequest } from './proc.mjs';

export {
  DOCKER_CLI,
  REPO_ROOT,
  TSCTRD_BIN,
  TSCTR_BIN,
  commandExists,
  findPids,
  rssMiB,
} from './engine-base.mjs';
export { PodmanEngine } from './podman-engine.mjs';

/** Whether the Bun-compiled tsctr exists and was built from the current bundle (else it would time old code). */
function compiledIsCurrent() {
  if (!existsSync(TSCTR_COMPILED)) return false;
  const bundle = join(dirname(TSCTR_BIN), 'main.js');
  return !existsSync(bundle) || statSync(bundle).mtimeMs <= statSync(TSCTR_COMPILED).mtimeMs;
}

/** Our daemon on private roots, driven by `tsctr` (the compiled binary bootstrap links, else Node) — what a user of ours types. */
export class TsctrEngine extends Engine {
  id = 'tsctr';
  label = 'ts-container (tsctr → tsctrd)';
  bin = process.execPath;
  bridge = `tb${tag}`.slice(0, 15);
  cgroupParent = `/tsctr-bench-${tag}`;
  /** Node options for the daemon (e.g. `--heapsnapshot-signal=SIGUSR2`). */
  nodeArgs = [];

  /** `suffix` makes a second, independent daemon (its own bridge and cgroup) beside the suite's. */
  constructor({ suffix = '', nodeArgs = [] } = {}) {
    super();
    if (suffix) {
      this.bridge = `tb${tag}${suffix}`.slice(0, 15);
      this.cgroupParent = `/tsctr-bench-${tag}${suffix}`;
    }
    this.nodeArgs = nodeArgs;
  }

  async available() {
    if (!existsSync(TSCTRD_BIN) || !existsSync(TSCTR_BIN))
      return 'apps are not built: run `pnpm build` first';
    for (const tool of ['runc', 'conmon']) if (!(await commandExists(tool))) return `${tool} is missing`;
    return undefined;
  }

  cli(args, options = {}) {
    const [cmd, pre] = this.compiledCli
      ? [this.compiledCli, []]
      : [process.execPath, [this.cliPath ?? TSCTR_BIN]];
    return run(cmd, [...pre, ...args], {
      ...options,
      env: { ...this.env, ...options.env },
    });
  }

  async start(root) {
    this.dir = await mkdtemp(join(root, 'tsctr-'));
    // The CLI is a CommonJS launcher (hence .cjs) and the bundle it runs, main.js beside it: a copy keeps the run
    // immune to rebuilds under way (the daemon loads all its code when it starts). Its V8 code cache goes under
    // the run's own directory (made by the unrecorded warm-up run) and goes away with it.
    this.cliPath = join(this.dir, 'tsctr.cjs');
    await copyFile(TSCTR_BIN, this.cliPath);
    await copyFile(join(dirname(TSCTR_BIN), 'main.js'), join(this.dir, 'main.js'));
    // What tools/bootstrap links is timed: the compiled binary when it is built from the current bundle
    // (copied too); BENCH_TSCTR_CLI=node times the Node bundle, BENCH_TSCTR_CLI=PATH another executable.
    const wanted = process.env.BENCH_TSCTR_CLI;
    if (wanted && wanted !== 'node') this.compiledCli = wanted;
    else if (!wanted && compiledIsCurrent()) {
      this.compiledCli = join(this.dir, 'tsctr');
      await copyFile(TSCTR_COMPILED, this.compiledCli);
      await chmod(this.compiledCli, 0o755);
    }
    this.socketPath = join(this.dir, 'tsctr.sock');
    this.env = { DOCKER_HOST: `unix://${this.socketPath}`, XDG_CACHE_HOME: join(this.dir, 'cache') };
    const log = openSync(join(this.dir, 'tsctrd.log'), 'a');
    this.process = spawn(
      process.execPath,
      [
        ...this.nodeArgs,
        TSCTRD_BIN,
        '-H',
        `unix://${this.socketPath}`,
        '--data-root',
        join(this.dir, 'data'),
        '--exec-root',
        join(this.dir, 'run'),
        '--cgroup-parent',
        this.cgroupParent,
        '--bridge',
        this.bridge,
      ],
      { stdio: ['ignore', log, log] },
    );
    this.started = true;
    for (let i = 0; i < 200; i++) {
      const ok = await unixRequest(this.socketPath, 'GET', '/_ping').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (this.process.exitCode !== null || i === 199)
        throw new Error(`tsctrd did not start: ${await readFile(join(this.dir, 'tsctrd.log'), 'utf8')}`);
      await sleep(50);
    }
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'apps/daemon/package.json'), 'utf8'));
    const commit = (await sh(`git -C ${REPO_ROOT} rev-parse --short HEAD`, { check: false })).stdout.trim();
    const dirty = (
      await sh(`git -C ${REPO_ROOT} status --porcelain | head -1`, { check: false })
    ).stdout.trim();
    const cli = this.compiledCli ? 'CLI compiled by Bun' : 'CLI on Node';
    this.version = `tsctrd ${pkg.version} (${commit}${dirty ? '+uncommitted' : ''}), node ${process.version}, ${cli}`;
  }

  async daemonProcesses() {
    return alive(this.process) ? [{ name: 'tsctrd', pid: this.process.pid }] : [];
  }

  async monitorPids() {
    return findPids((c) => /^(\S*\/)?conmon /.test(c) && c.includes(this.dir));
  }

  async stop() {
    if (!this.started) return;
    if (alive(this.process)) {
      await this.removeAllContainers();
      const exited = new Promise((r) => this.process.once('exit', r));
      this.process.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      if (alive(this.process)) this.process.kill('SIGKILL');
    }
    // Monitors of containers that outlived the daemon would keep mounts busy.
    for (const pid of await this.monitorPids()) killQuietly(pid);
    await umountUnder(this.dir);
    await run('ip', ['link', 'del', this.bridge], { check: false });
    await run('nft', ['delete', 'table', 'ip', `tsctr_${this.bridge}`], { check: false });
    await rmCgroup(this.cgroupParent.slice(1));
    await rm(this.dir, { recursive: true, force: true });
    this.started = false;
  }
}

/** The docker CLI against our daemon: same daemon as TsctrEngine, Go client instead of Node. */
export class DockerCliOnTsctr extends Engine {
  id = 'docker→tsctrd';
  label = 'docker CLI → tsctrd';
  bin = DOCKER_CLI;
  constructor(tsctr, dockerConfigDir) {
    super();
    this.tsctr = tsctr;
    // Class fields would shadow accessors, so the shared daemon's settings are copied here.
    this.env = { ...tsctr.env, DOCKER_CONFIG: dockerConfigDir };
    this.version = tsctr.version;
    this.socketPath = tsctr.socketPath;
  }

  /** The same daemon as `tsctr`'s (for memory figures measured through this CLI). */
  daemonProcesses() {
    return this.tsctr.daemonProcesses();
  }
}

/** Debian's dockerd 20.10 with its managed containerd, on private roots and its own bridge. */
export class DockerEngine extends Engine {
  id = 'docker';
  label = 'Docker (dockerd + containerd)';
  bin = DOCKER_CLI;
  bridge = `bd${tag}`.slice(0, 15);
  /** A /24 no other interface on this machine uses. */
  subnet = '172.31.251';

  async available() {
    for (const tool of ['dockerd', 'containerd', 'containerd-shim-runc-v2'])
      if (!(await commandExists(tool))) return `${tool} is missing (apt-get install docker.io)`;
    return undefined;
  }

  async start(root) {
    this.dir = await mkdtemp(join(root, 'docker-'));
    this.socketPath = join(this.dir, 'docker.sock');
    this.env = { DOCKER_HOST: `unix://${this.socketPath}`, DOCKER_CONFIG: join(this.dir, 'config') };
    const routes = (await run('ip', ['route'])).stdout;
    if (routes.includes(`${this.subnet}.`)) this.subnet = '172.30.251';
    // dockerd adopts a bridge that exists (with its address) rather than making docker0.
    await run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    this.bridgeCreated = true;
    await run('ip', ['addr', 'add', `${this.subnet}.1/24`, 'dev', this.bridge]);
    await run('ip', ['link', 'set', this.bridge, 'up']);
    const log = openSync(join(this.dir, 'dockerd.log'), 'a');
    this.process = spawn(
      'dockerd',
      [
        '--data-root',
        join(this.dir, 'data'),
        '--exec-root',
        join(this.dir, 'run'),
        '--pidfile',
        join(this.dir, 'dockerd.pid'),
        '-H',
        `unix://${this.socketPath}`,
        '--bridge',
        this.bridge,
        // No host firewall changes: other engineers' network tests share this machine.
        '--iptables=false',
        '--ip6tables=false',
        '--ip-masq=false',
        '--exec-opt',
        'native.cgroupdriver=cgroupfs',
        '--cgroup-parent',
        `/bench-docker-${tag}`,
        '--storage-driver',
        'overlay2',
      ],
      { stdio: ['ignore', log, log] },
    );
    this.started = true;
    for (let i = 0; i < 300; i++) {
      const ok = await unixRequest(this.socketPath, 'GET', '/_ping').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (this.process.exitCode !== null || i === 299)
        throw new Error(
          `dockerd did not start: ${(await readFile(join(this.dir, 'dockerd.log'), 'utf8')).slice(-2000)}`,
        );
      await sleep(100);
    }
    const v = await this.cli(['version', '--format', '{{.Server.Version}}'], { check: false });
    const c = await run('containerd', ['--version'], { check: false });
    this.version = `dockerd ${v.stdout.trim()}, ${c.stdout.trim().split(' ').slice(-2).join(' ')} (CLI ${(await this.cli(['version', '--format', '{{.Client.Version}}'], { check: false })).stdout.trim()})`;
  }

  async daemonProcesses() {
    if (!alive(this.process)) return [];
    const containerd = await findPids(
      (c) => c.startsWith('containerd ') && c.includes(join(this.dir, 'run')),
    );
    return [
      { name: 'dockerd', pid: this.process.pid },
      ...containerd.map((pid) => ({ name: 'containerd', pid })),
    ];
  }

  async monitorPids() {
    return findPids((c) => c.startsWith('/usr/bin/containerd-shim-runc-v2') && c.includes(this.dir));
  }

  async stop() {
    if (!this.started) return;
    if (alive(this.process)) {
      await this.removeAllContainers();
      const exited = new Promise((r) => this.process.once('exit', r));
      this.process.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      if (alive(this.process)) this.process.kill('SIGKILL');
    }
    const left = [
      ...(await findPids((c) => c.startsWith('containerd ') && c.includes(this.dir))),
      ...(await this.monitorPids()),
    ];
    for (const pid of left) killQuietly(pid);
    await sleep(200);
    await umountUnder(this.dir);
    if (this.bridgeCreated) await run('ip', ['link', 'del', this.bridge], { check: false });
    await rmCgroup(`bench-docker-${tag}`);
    await rm(this.dir, { recursive: true, force: true });
    this.started = false;
  }
}

/**
 * A last sweep for this run's kernel state (bridges, firewall table, cgroups), in case a daemon
 * recreated something while it shut down. Idempotent.
 */
export async function sweep() {
  await sleep(1000);
  for (const link of [`tb${tag}`.slice(0, 15), `bd${tag}`.slice(0, 15)])
    await run('ip', ['link', 'del', link], { check: false });
  await run('nft', ['delete', 'table', 'ip', `tsctr_${`tb${tag}`.slice(0, 15)}`], { check: false });
  for (const cg of [`tsctr-bench-${tag}`, `bench-docker-${tag}`]) await rmCgroup(cg);
}

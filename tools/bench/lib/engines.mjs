import { spawn } from 'node:child_process';
// The engines under test, each started privately on temp roots so the suite never touches a
// daemon or store someone else uses, and stopped (with everything it left in the kernel)
// afterwards: our tsctrd, Debian's dockerd (+ its managed containerd) and podman (no daemon).
import { existsSync, openSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive, run, sh, sleep, unixRequest } from './proc.mjs';

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
/** `BENCH_TSCTRD` runs another build of the daemon (e.g. main's, for an A/B comparison). */
export const TSCTRD_BIN = process.env.BENCH_TSCTRD ?? join(REPO_ROOT, 'apps/daemon/dist/index.js');
export const TSCTR_BIN = join(REPO_ROOT, 'apps/cli/dist/index.js');
/** The same docker CLI (28) talks to dockerd and to tsctrd, so client cost is equal. */
export const DOCKER_CLI = existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : '/usr/bin/docker';

const tag = `${process.pid % 100000}`;

export async function commandExists(name) {
  return (await sh(`command -v ${name}`, { check: false })).code === 0;
}

/** Resident set size of a process in MiB (VmRSS), or undefined when it is gone. */
export async function rssMiB(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    return kb / 1024;
  } catch {
    return undefined;
  }
}

/** PIDs whose command line (argv joined by spaces) matches `test`. */
export async function findPids(test) {
  const out = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ');
      if (test(cmdline)) out.push(Number(entry));
    } catch {}
  }
  return out;
}

async function umountUnder(dir) {
  await sh(`grep -o ' ${dir}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`, {
    check: false,
  });
}

/** Removes a cgroup tree in every v1 hierarchy; retried because exiting tasks keep it busy briefly. */
async function rmCgroup(name) {
  for (let i = 0; i < 20; i++) {
    const r = await sh(
      `left=0; for c in /sys/fs/cgroup/*/; do [ -d "\${c}${name}" ] || continue; find "\${c}${name}" -depth -type d -exec rmdir {} \\; 2>/dev/null; [ -d "\${c}${name}" ] && left=1; done; exit $left`,
      { check: false },
    );
    if (r.code === 0) return;
    await sleep(250);
  }
}

function killQuietly(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {}
}

class Engine {
  /** Short id used in tables and JSON: tsctr, docker, podman. */
  id;
  label;
  version = 'unknown';
  dir;
  env = {};
  started = false;
  /** Engine-specific flags for `pull`/`push` from the local plain-HTTP registry. */
  registryFlags = [];

  /** Runs this engine's CLI. */
  cli(args, options = {}) {
    return run(this.bin, args, { ...options, env: { ...this.env, ...options.env } });
  }

  /** Processes of the daemon for the memory figure: [{ name, pid }]. */
  async daemonProcesses() {
    return [];
  }

  /** PIDs of per-container monitor processes (conmon / containerd-shim). */
  async monitorPids() {
    return [];
  }

  /** The Engine API socket for seeding containers quickly, when the engine has one. */
  socketPath;

  /** Removes every container (a cleanup step, never timed). */
  async removeAllContainers() {
    const ids = (await this.cli(['ps', '-aq'], { check: false })).stdout.split('\n').filter(Boolean);
    for (let i = 0; i < ids.length; i += 100)
      await this.cli(['rm', '-f', ...ids.slice(i, i + 100)], { check: false, timeoutMs: 300_000 });
  }
}

/** Our daemon on private roots, driven by `tsctr` (Node) — what a user of ours types. */
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
    return run(process.execPath, [this.cliPath ?? TSCTR_BIN, ...args], {
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
    this.version = `tsctrd ${pkg.version} (${commit}${dirty ? '+uncommitted' : ''}), node ${process.version}`;
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

const PODMAN_LEFTOVERS = ['/run/containers', '/run/libpod', '/var/lib/containers'];

/** Debian's podman 4.3: daemonless; each container gets its own conmon. */
export class PodmanEngine extends Engine {
  id = 'podman';
  label = 'Podman (no daemon, conmon per container)';
  bin = 'podman';
  registryFlags = ['--tls-verify=false'];

  async available() {
    if (!(await commandExists('podman'))) return 'podman is missing (apt-get install podman)';
    if (!(await commandExists('runc'))) return 'runc is missing';
    return undefined;
  }

  async start(root) {
    this.dir = await mkdtemp(join(root, 'podman-'));
    // Paths podman (or its netavark) creates no matter what: removed afterwards if we made them.
    this.preexisting = PODMAN_LEFTOVERS.filter((p) => existsSync(p));
    this.hadPodman0 = (await run('ip', ['link', 'show', 'podman0'], { check: false })).code === 0;
    const d = this.dir;
    await mkdir(join(d, 'net'), { recursive: true });
    // Debian's defaults do not work here: crun refuses the hybrid cgroup layout, there is no
    // systemd for the cgroup manager or journald, and the default ulimits exceed the hard limits.
    await writeFile(
      join(d, 'containers.conf'),
      `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "${d}/events.log"
tmp_dir = "${d}/tmp"
static_dir = "${d}/storage/libpod"
volume_path = "${d}/storage/volumes"
[network]
network_config_dir = "${d}/net"
default_subnet = "172.31.252.0/24"
`,
    );
    await writeFile(
      join(d, 'storage.conf'),
      `[storage]\ndriver = "overlay"\ngraphroot = "${d}/storage"\nrunroot = "${d}/run"\n`,
    );
    await writeFile(
      join(d, 'registries.conf'),
      'unqualified-search-registries = []\nshort-name-mode = "permissive"\n',
    );
    this.env = {
      CONTAINERS_CONF: join(d, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: join(d, 'storage.conf'),
      CONTAINERS_REGISTRIES_CONF: join(d, 'registries.conf'),
    };
    this.started = true;
    const v = await this.cli(['version', '--format', '{{.Client.Version}}']);
    const rt = await run('runc', ['--version'], { check: false });
    const cm = await run('conmon', ['--version'], { check: false });
    this.version = `podman ${v.stdout.trim()} (runc ${rt.stdout.split('\n')[0]?.split(' ').pop()}, conmon ${cm.stdout.split('\n')[0]?.split(' ').pop()})`;
  }

  async monitorPids() {
    return findPids((c) => c.startsWith('/usr/bin/conmon ') && c.includes(this.dir));
  }

  /**
   * Podman's Docker-compatible API service, for seeding hundreds of containers without one
   * podman process each (never used for a timed operation). Returns its socket path.
   */
  async startService() {
    if (alive(this.service)) return this.serviceSocket;
    this.serviceSocket = join(this.dir, 'podman.sock');
    this.service = spawn('podman', ['system', 'service', '--time=0', `unix://${this.serviceSocket}`], {
      env: { ...process.env, ...this.env },
      stdio: 'ignore',
    });
    for (let i = 0; i < 200; i++) {
      const ok = await unixRequest(this.serviceSocket, 'GET', '/_ping').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return this.serviceSocket;
      if (!alive(this.service)) break;
      await sleep(50);
    }
    throw new Error('podman system service did not start');
  }

  async stopService() {
    if (!alive(this.service)) return;
    const exited = new Promise((r) => this.service.once('exit', r));
    this.service.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (alive(this.service)) this.service.kill('SIGKILL');
  }

  async stop() {
    if (!this.started) return;
    await this.stopService();
    await this.cli(['rm', '-fa', '-t', '0'], { check: false, timeoutMs: 300_000 });
    for (const pid of await this.monitorPids()) killQuietly(pid);
    await this.cli(['system', 'reset', '-f'], { check: false, timeoutMs: 120_000 });
    await umountUnder(this.dir);
    // netavark sets up iptables chains for podman's default bridge and leaves them behind.
    await sh(NETAVARK_CLEANUP, { check: false });
    if (!this.hadPodman0) await run('ip', ['link', 'del', 'podman0'], { check: false });
    await rmCgroup('libpod_parent');
    for (const p of PODMAN_LEFTOVERS) {
      if (this.preexisting.includes(p)) continue;
      await rm(p, { recursive: true, force: true });
    }
    await rm(this.dir, { recursive: true, force: true });
    this.started = false;
  }
}

const NETAVARK_CLEANUP = `
for ipt in iptables ip6tables; do
  for t in filter nat; do
    $ipt-save -t $t 2>/dev/null | grep -E '^-A [A-Z]+ .*NETAVARK' | grep -vE '^-A NETAVARK' | sed 's/^-A/-D/' |
      while read -r rule; do eval "$ipt -t $t $rule"; done
    for c in $($ipt-save -t $t 2>/dev/null | grep -oE '^:NETAVARK[^ ]*' | tr -d :); do $ipt -t $t -F $c; done
    for c in $($ipt-save -t $t 2>/dev/null | grep -oE '^:NETAVARK[^ ]*' | tr -d :); do $ipt -t $t -X $c; done
  done
done`;

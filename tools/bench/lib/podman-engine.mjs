// Debian's podman 4.3 on private storage and configuration, driven by its own CLI.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Engine, commandExists, findPids, killQuietly, rmCgroup, umountUnder } from './engine-base.mjs';
import { alive, run, sh, sleep, unixRequest } from './proc.mjs';

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

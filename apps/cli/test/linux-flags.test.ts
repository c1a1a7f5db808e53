import { mkdtemp, readFile, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import { afterAll, describe, expect, it } from 'vitest';

const skip = e2eSkip('tsctr Linux flag tests');

const CGROUP_V1 = '/sys/fs/cgroup';
/** The block device the throttle flags are tried on (this machine's disk). */
const DISK = '/dev/vda';

/**
 * Issue 19: the run/create flags for Linux resources and namespaces, from the flag to the
 * container's HostConfig (inspect) to what the kernel shows (cgroup files, /proc).
 */
describe.skipIf(skip !== undefined)('run/create Linux resource and namespace flags', () => {
  const parent = `tsctr-flags-test-${process.pid}`;
  // Registered before the daemon's hooks, so it runs after the daemon is gone:
  // the --cgroup-parent this test made, in every v1 hierarchy (runc leaves parents behind).
  afterAll(async () => {
    for (const controller of await readdir(CGROUP_V1).catch(() => [])) {
      await rmdir(join(CGROUP_V1, controller, parent)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') throw err;
      });
    }
  });
  const daemon = useDaemon();
  const inspect = async (name: string) =>
    JSON.parse((await daemon.tsctr(['inspect', name])).stdout)[0] as {
      Id: string;
      HostConfig: Record<string, unknown>;
      Config: Record<string, unknown>;
    };

  it('knows every run flag the docker CLI has, but for the Windows-only ones', async () => {
    const names = (help: string) =>
      new Set([...help.matchAll(/^\s+(?:-\w, )?--([a-z0-9-]+)/gm)].map((m) => m[1]!));
    const docker = names((await daemon.docker(['run', '--help'])).stdout);
    const tsctr = names((await daemon.tsctr(['run', '--help'])).stdout);
    // --help is every command's, not listed by tsctr.
    const windowsOnly = ['help', 'cpu-count', 'cpu-percent', 'io-maxbandwidth', 'io-maxiops', 'isolation'];
    expect(docker.size).toBeGreaterThan(90);
    expect([...docker].filter((f) => !tsctr.has(f) && !windowsOnly.includes(f))).toEqual([]);
  });

  it('keeps memory, OOM, blkio, device rule and annotation options and applies them to the cgroup', async () => {
    const create = await daemon.tsctr([
      'run',
      '-d',
      '--name',
      'limits',
      '-m',
      '256m',
      '--memory-reservation',
      '64m',
      '--memory-swappiness',
      '10',
      '--oom-kill-disable',
      '--oom-score-adj',
      '500',
      '--blkio-weight',
      '300',
      '--device-read-bps',
      `${DISK}:1mb`,
      '--device-write-iops',
      `${DISK}:100`,
      '--device-cgroup-rule',
      'c 42:* rmw',
      '--annotation',
      'org.example.owner=flags',
      '--cgroup-parent',
      parent,
      '--kernel-memory',
      '64m',
      '--disable-content-trust',
      'busybox',
      'sleep',
      '300',
    ]);
    expect(create.exitCode, create.stderr).toBe(0);
    const c = await inspect('limits');
    expect(c.HostConfig).toMatchObject({
      MemoryReservation: 64 * 1024 * 1024,
      MemorySwappiness: 10,
      OomKillDisable: true,
      OomScoreAdj: 500,
      BlkioDeviceReadBps: [{ Path: DISK, Rate: 1024 * 1024 }],
      BlkioDeviceWriteIOps: [{ Path: DISK, Rate: 100 }],
      DeviceCgroupRules: ['c 42:* rmw'],
      Annotations: { 'org.example.owner': 'flags' },
      CgroupParent: parent,
    });
    // Ignored since API 1.42, as dockerd does.
    expect(c.HostConfig.KernelMemory ?? 0).toBe(0);

    const cg = (controller: string, file: string) =>
      readFile(join(CGROUP_V1, controller, parent, c.Id, file), 'utf8');
    expect((await cg('memory', 'memory.soft_limit_in_bytes')).trim()).toBe(String(64 * 1024 * 1024));
    expect((await cg('memory', 'memory.swappiness')).trim()).toBe('10');
    expect(await cg('memory', 'memory.oom_control')).toMatch(/^oom_kill_disable 1$/m);
    expect((await cg('blkio', 'blkio.throttle.read_bps_device')).trim()).toBe('254:0 1048576');
    expect((await cg('blkio', 'blkio.throttle.write_iops_device')).trim()).toBe('254:0 100');
    expect(await cg('devices', 'devices.list')).toMatch(/^c 42:\* rwm$/m);

    const inside = await daemon.tsctr([
      'exec',
      'limits',
      'sh',
      '-c',
      'cat /proc/1/oom_score_adj /proc/1/cgroup',
    ]);
    expect(inside.stdout.split('\n')[0]).toBe('500');
    // The host's cgroup namespace (the default on cgroup v1): the full path shows.
    expect(inside.stdout).toContain(`memory:/${parent}/${c.Id}`);

    // This kernel's blkio controller has no weight files (no CFQ/BFQ): dockerd's warning, weight dropped.
    const weightable = await readFile(join(CGROUP_V1, 'blkio', 'blkio.weight')).then(
      () => true,
      () => false,
    );
    if (!weightable) {
      expect(create.stderr).toContain(
        'WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.',
      );
      expect(c.HostConfig.BlkioWeight).toBe(0);
    } else {
      expect((await cg('blkio', 'blkio.weight')).trim()).toBe('300');
    }
    await daemon.tsctr(['rm', '-f', 'limits']);
  });

  it('adds --group-add groups to the process', async () => {
    const r = await daemon.tsctr([
      'run',
      '--rm',
      '--group-add',
      '29',
      '--group-add',
      '1234',
      'busybox',
      'id',
      '-G',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split(' ')).toEqual(expect.arrayContaining(['0', '29', '1234']));
  });

  it('gives a private cgroup namespace with --cgroupns private, the host one with host', async () => {
    const priv = await daemon.tsctr([
      'run',
      '--rm',
      '--cgroupns',
      'private',
      'busybox',
      'cat',
      '/proc/self/cgroup',
    ]);
    expect(priv.exitCode, priv.stderr).toBe(0);
    expect(priv.stdout).toMatch(/^\d+:memory:\/$/m);
    const host = await daemon.tsctr([
      'run',
      '--rm',
      '--cgroupns',
      'host',
      'busybox',
      'cat',
      '/proc/self/cgroup',
    ]);
    expect(host.stdout).toMatch(new RegExp(`^\\d+:memory:${daemon.cgroupParent}/[0-9a-f]{64}$`, 'm'));
    await daemon.tsctr(['create', '--name', 'ns', '--cgroupns', 'private', '--uts', 'host', 'busybox']);
    expect((await inspect('ns')).HostConfig).toMatchObject({ CgroupnsMode: 'private', UTSMode: 'host' });
    await daemon.tsctr(['rm', 'ns']);
  });

  it("shares the host's UTS namespace with --uts host", async () => {
    const r = await daemon.tsctr(['run', '--rm', '--uts', 'host', 'busybox', 'hostname']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(hostname());
    const both = await daemon.tsctr(['run', '--rm', '--uts', 'host', '-h', 'named', 'busybox', 'true']);
    expect(both.exitCode).toBe(125);
    expect(both.stderr).toContain('conflicting options: hostname and the UTS mode');
  });

  it("answers Docker's errors for GPUs, --storage-opt and unknown volume drivers", async () => {
    const gpus = await daemon.tsctr(['run', '--rm', '--gpus', 'all', 'busybox', 'true']);
    expect(gpus.exitCode).toBe(125);
    expect(gpus.stderr).toContain('could not select device driver "" with capabilities: [[gpu]]');
    const size = await daemon.tsctr(['run', '--rm', '--storage-opt', 'size=1G', 'busybox', 'true']);
    expect(size.exitCode).toBe(125);
    expect(size.stderr).toMatch(/--storage-opt is (supported only for overlay over xfs|not supported for)/);
    const driver = await daemon.tsctr([
      'run',
      '--rm',
      '--volume-driver',
      'nfs9',
      '-v',
      'data:/data',
      'busybox',
      'true',
    ]);
    expect(driver.exitCode).toBe(125);
    expect(driver.stderr).toContain('error looking up volume plugin nfs9: plugin "nfs9" not found');
    const local = await daemon.tsctr([
      'run',
      '--rm',
      '--volume-driver',
      'local',
      '-v',
      'data2:/data',
      'busybox',
      'true',
    ]);
    expect(local.exitCode, local.stderr).toBe(0);
    const oom = await daemon.tsctr(['run', '--rm', '--oom-kill-disable', 'busybox', 'true']);
    expect(oom.exitCode, oom.stderr).toBe(0);
    expect(oom.stderr).toContain(
      'WARNING: OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.',
    );
    const badAdj = await daemon.tsctr(['run', '--rm', '--oom-score-adj', '2000', 'busybox', 'true']);
    expect(badAdj.stderr).toContain('Invalid value 2000, range for oom score adj is [-1000, 1000]');
  });

  it('bind-mounts the engine socket and the client credentials with --use-api-socket', async () => {
    const config = await mkdtemp(join(tmpdir(), 'tsctr-flags-config-'));
    const auth = Buffer.from('alice:secret').toString('base64');
    await writeFile(
      join(config, 'config.json'),
      JSON.stringify({ auths: { 'registry.example:5000': { auth } } }),
    );
    try {
      const r = await daemon.tsctr([
        '--config',
        config,
        'run',
        '--rm',
        '--use-api-socket',
        'busybox',
        'sh',
        '-c',
        'test -S /var/run/docker.sock && stat -c %i /var/run/docker.sock && echo $DOCKER_CONFIG && cat $DOCKER_CONFIG/config.json',
      ]);
      expect(r.exitCode, r.stderr).toBe(0);
      const [inode, dir, ...json] = r.stdout.split('\n');
      // The daemon's own socket (same inode), not a copy.
      expect(inode).toBe(String((await stat(daemon.socketPath)).ino));
      expect(dir).toBe('/run/secrets/docker');
      expect(JSON.parse(json.join('\n'))).toEqual({ auths: { 'registry.example:5000': { auth } } });
    } finally {
      await rm(config, { recursive: true, force: true });
    }
  });

  it('gives --ip6 and --link-local-ip addresses on the interface, and keeps them in inspect', async () => {
    const n = process.pid % 250;
    const net = `flags6-${process.pid}`;
    const made = await daemon.tsctr([
      'network',
      'create',
      '--ipv6',
      '--subnet',
      `10.219.${n}.0/24`,
      '--subnet',
      `fd19:${n.toString(16)}::/64`,
      net,
    ]);
    expect(made.exitCode, made.stderr).toBe(0);
    try {
      const r = await daemon.tsctr([
        'run',
        '--name',
        'addrs',
        '--network',
        net,
        '--ip6',
        `fd19:${n.toString(16)}::33`,
        '--link-local-ip',
        '169.254.7.7',
        '--link-local-ip',
        'fe80::77',
        'busybox',
        'ip',
        'addr',
        'show',
        'eth0',
      ]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain(`inet6 fd19:${n.toString(16)}::33/64`);
      expect(r.stdout).toContain('inet 169.254.7.7/32');
      expect(r.stdout).toContain('inet6 fe80::77/128');
      const c = JSON.parse((await daemon.tsctr(['inspect', 'addrs'])).stdout)[0];
      expect(c.NetworkSettings.Networks[net].IPAMConfig).toEqual({
        IPv6Address: `fd19:${n.toString(16)}::33`,
        LinkLocalIPs: ['169.254.7.7', 'fe80::77'],
      });
    } finally {
      await daemon.tsctr(['rm', '-f', 'addrs']);
      await daemon.tsctr(['network', 'rm', net]);
    }
  });

  it('takes the same flags from the docker CLI', async () => {
    const r = await daemon.docker([
      'run',
      '--name',
      'from-docker',
      '--oom-score-adj',
      '300',
      '--memory-reservation',
      '32m',
      '--group-add',
      '1234',
      '--cgroupns',
      'private',
      '--uts',
      'host',
      '--annotation',
      'a=b',
      '--health-start-interval',
      '2s',
      '--health-cmd',
      'true',
      'busybox',
      'sh',
      '-c',
      'cat /proc/self/oom_score_adj; id -G; hostname; grep memory /proc/self/cgroup',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const [adj, groups, host, memory] = r.stdout.split('\n');
    expect(adj).toBe('300');
    expect(groups?.split(' ')).toContain('1234');
    expect(host).toBe(hostname());
    expect(memory).toMatch(/^\d+:memory:\/$/);
    const c = await inspect('from-docker');
    expect(c.HostConfig).toMatchObject({
      OomScoreAdj: 300,
      MemoryReservation: 32 * 1024 * 1024,
      GroupAdd: ['1234'],
      CgroupnsMode: 'private',
      UTSMode: 'host',
      Annotations: { a: 'b' },
    });
    expect((c.Config.Healthcheck as { StartInterval?: number }).StartInterval).toBe(2e9);
    await daemon.tsctr(['rm', '-f', 'from-docker']);
  });
});

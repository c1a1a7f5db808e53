import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ContainerRuntime } from './container-runtime.js';
import { hostDevice } from './devices.js';
import type { ContainerSpecInput } from './spec-input.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('isolation tests skipped: running containers needs root');
const makeRootfs = resolve(__dirname, '../../../tools/images/make-busybox-rootfs');
const ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

// Both OCI runtimes must isolate alike: each runs the whole set where it works on this machine.
describe.skipIf(!isRoot).each(['crun', 'runc'])(
  "Docker's default isolation in real containers (%s)",
  (name) => {
    let dir: string;
    let rootfs: string;
    let runtime: ContainerRuntime;
    let unusable: string | undefined;
    let n = 0;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'runtime-iso-'));
      rootfs = join(dir, 'rootfs');
      execFileSync(makeRootfs, [join(dir, 'rootfs.tar'), rootfs]);
      runtime = await ContainerRuntime.open({ stateDir: join(dir, 'state'), runtime: name }).catch(
        (err: Error) => {
          unusable = err.message;
          return undefined as unknown as ContainerRuntime;
        },
      );
      if (!unusable && runtime.oci.info.name !== name)
        unusable = runtime.unusable.find((r) => r.name === name)?.reason ?? 'not installed';
      if (unusable) console.warn(`isolation tests with ${name} skipped: ${unusable}`);
    });
    beforeEach((ctx) => {
      if (unusable) ctx.skip();
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    const run = (script: string, extra: Partial<ContainerSpecInput> = {}) => {
      const cid = `rt-iso-${name}-${process.pid}-${n++}`;
      return runtime.run(cid, {
        rootfs,
        args: ['sh', '-c', script],
        env: ENV,
        cgroupsPath: `/tsctr-test/${cid}`,
        ...extra,
      });
    };

    it('runs root in a user namespace as an unprivileged host user', async () => {
      const map = [{ containerID: 0, hostID: 200000, size: 65536 }];
      // The mapped root is an unprivileged host user: it must be able to reach the rootfs.
      await chmod(dir, 0o755);
      const r = await run(
        'id -u; cat /proc/self/uid_map; sleep 0.2 & ps -o user,comm >/dev/null; touch /tmp/x && echo wrote',
        {
          userNamespace: { uidMappings: map, gidMappings: map },
        },
      );
      expect(r.stderr).toBe('');
      const [uid, uidMap] = r.stdout.split('\n');
      expect(uid).toBe('0');
      // Container root is host uid 200000: whatever it escapes to on the host, it is nobody there.
      expect(uidMap?.trim().split(/\s+/)).toEqual(['0', '200000', '65536']);
      expect(r.stdout).toContain('wrote');
    });

    it('adds a host device with its cgroup rule (--device), and nothing else opens', async () => {
      const device = await hostDevice('/dev/loop7', '/dev/xloop');
      expect(device).toMatchObject({ type: 'b', major: 7, minor: 7, path: '/dev/xloop' });
      const r = await run('ls -l /dev/xloop | cut -c1; head -c 0 < /dev/xloop && echo opened', {
        devices: [device],
      });
      expect(r.stdout).toBe('b\nopened\n');
      // The same node made by hand is refused by the device cgroup.
      const denied = await run('mknod /tmp/xl b 7 7 && head -c 0 < /tmp/xl && echo opened', {
        capAdd: ['MKNOD'],
      });
      expect(denied.stdout).toBe('');
      expect(denied.stderr).toMatch(/Operation not permitted/);
    });

    it('blocks namespace creation and mounts with the default seccomp profile', async () => {
      // unshare -U needs no capability: only seccomp stands in the way.
      const confined = await run('unshare -U true 2>&1; echo "unshare=$?"');
      expect(confined.stdout).toMatch(/Operation not permitted/);
      expect(confined.stdout).toMatch(/unshare=1/);
      const unconfined = await run('unshare -U true; echo "unshare=$?"', { seccomp: 'unconfined' });
      expect(unconfined.stdout.trim()).toBe('unshare=0');
      const mount = await run('mkdir -p /mnt/x; mount -t tmpfs none /mnt/x 2>&1; echo "mount=$?"');
      expect(mount.stdout).toMatch(/mount=(1|255)/);
      // Ordinary work (fork, exec, pipes, files, sockets) is allowed.
      const ordinary = await run(
        'echo hi | cat > /tmp/f && cat /tmp/f && nc -l -p 1 -w 1 </dev/null 2>/dev/null; echo ok',
      );
      expect(ordinary.stdout).toContain('hi\n');
      expect(ordinary.stdout).toContain('ok');
    });

    it('grants the admin syscalls with CAP_SYS_ADMIN, as Docker does', async () => {
      const r = await run('mkdir -p /mnt/x && mount -t tmpfs none /mnt/x && echo mounted', {
        capAdd: ['SYS_ADMIN'],
      });
      expect(r.stdout.trim()).toBe('mounted');
    });

    it('drops capabilities: --cap-drop CHOWN blocks chown', async () => {
      const allowed = await run('touch /tmp/f && chown 1000 /tmp/f && echo chowned');
      expect(allowed.stdout.trim()).toBe('chowned');
      const dropped = await run('touch /tmp/f && chown 1000 /tmp/f 2>&1; echo "rc=$?"', {
        capDrop: ['CHOWN'],
      });
      expect(dropped.stdout).toMatch(/Operation not permitted/);
      expect(dropped.stdout).toMatch(/rc=1/);
    });

    it('makes a read-only rootfs refuse writes (but not /tmp mounts or /dev/shm)', async () => {
      const r = await run('touch /file 2>&1; echo "rc=$?"; touch /dev/shm/ok && echo shm-ok', {
        readonlyRootfs: true,
      });
      expect(r.stdout).toMatch(/Read-only file system/);
      expect(r.stdout).toMatch(/rc=1/);
      expect(r.stdout).toContain('shm-ok');
    });

    it('pins to the given CPUs and limits pids', async () => {
      const r = await run('cat /sys/fs/cgroup/cpuset/cpuset.cpus; cat /sys/fs/cgroup/pids/pids.max', {
        resources: { cpusetCpus: '0', pidsLimit: 20 },
      });
      expect(r.stdout).toBe('0\n20\n');
    });

    it('applies ulimits and no-new-privileges', async () => {
      const r = await run('ulimit -n; grep NoNewPrivs /proc/self/status', {
        rlimits: [{ type: 'nofile', soft: 123, hard: 456 }],
        noNewPrivileges: true,
      });
      expect(r.stdout).toMatch(/^123\nNoNewPrivs:\s+1\n$/);
    });

    it('gives privileged containers every capability and no seccomp filter', async () => {
      const r = await run('grep -E "^(CapEff|Seccomp):" /proc/self/status', { privileged: true });
      expect(r.stdout).toMatch(/Seccomp:\s+0/);
      expect(r.stdout).not.toMatch(/CapEff:\s+00000000a80425fb/);
      const d = await run('grep -E "^(CapEff|Seccomp):" /proc/self/status');
      // Docker's default set, and filter mode 2 (seccomp filter).
      expect(d.stdout).toMatch(/CapEff:\s+00000000a80425fb/);
      expect(d.stdout).toMatch(/Seccomp:\s+2/);
    });
  },
);

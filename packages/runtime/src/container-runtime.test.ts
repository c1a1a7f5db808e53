import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ContainerRuntime } from './container-runtime.js';
import { ContainerStartError, commandFailureFrom, isCommandFailure } from './errors.js';
import { readLogRecords } from './log-file.js';
import { findOciRuntimes, probeOciRuntime } from './oci-runtime.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('runtime tests skipped: running containers needs root');
const makeRootfs = resolve(__dirname, '../../../tools/images/make-busybox-rootfs');
const ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

describe.skipIf(!isRoot)('ContainerRuntime with real containers', () => {
  let dir: string;
  let rootfs: string;
  let runtime: ContainerRuntime;
  let n = 0;
  const id = () => `rt-test-${process.pid}-${n++}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'runtime-'));
    rootfs = join(dir, 'rootfs');
    execFileSync(makeRootfs, [join(dir, 'rootfs.tar'), rootfs]);
    runtime = await ContainerRuntime.open({ stateDir: join(dir, 'state') });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('runs the command as PID 1 with its own hostname and exit code', async () => {
    const cid = id();
    const r = await runtime.run(cid, {
      rootfs,
      args: ['sh', '-c', 'hostname; cat /proc/1/cmdline; echo; echo oops >&2; exit 7'],
      env: ENV,
      hostname: 'box1',
      cgroupsPath: `/tsctr-test/${cid}`,
    });
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toBe('box1\nsh\0-c\0hostname; cat /proc/1/cmdline; echo; echo oops >&2; exit 7\0\n');
    expect(r.stderr).toBe('oops\n');
  });

  it('does not show host processes', async () => {
    const cid = id();
    const r = await runtime.run(cid, {
      rootfs,
      args: ['sh', '-c', 'ls /proc | grep -c "^[0-9]"'],
      env: ENV,
      cgroupsPath: `/tsctr-test/${cid}`,
    });
    // sh, ls and grep at most: the host's hundreds of processes are invisible.
    expect(Number(r.stdout.trim())).toBeLessThanOrEqual(3);
  });

  it('reports a missing command with exit code 127', async () => {
    const cid = id();
    const err = await runtime
      .run(cid, { rootfs, args: ['nosuch'], env: ENV, cgroupsPath: `/tsctr-test/${cid}` })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerStartError);
    expect((err as ContainerStartError).exitCode).toBe(127);
    expect((err as Error).message).toContain('exec: "nosuch": executable file not found in $PATH');
  });

  it("applies a memory limit and reports an OOM kill as 137, writing nothing to the caller's directory", async () => {
    const cid = id();
    // conmon writes an `oom` file in its working directory: it must be the bundle, not ours.
    const callerDir = join(dir, 'caller-cwd');
    await mkdir(callerDir);
    const cwd = process.cwd();
    process.chdir(callerDir);
    const r = await runtime
      .run(cid, {
        rootfs,
        args: [
          'sh',
          '-c',
          'cat /sys/fs/cgroup/memory/memory.limit_in_bytes; x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived',
        ],
        env: ENV,
        resources: { memory: 16 * 1024 * 1024, memorySwap: 16 * 1024 * 1024 },
        cgroupsPath: `/tsctr-test/${cid}`,
      })
      .finally(() => process.chdir(cwd));
    expect(await readdir(callerDir)).toEqual([]);
    expect(r.stdout.split('\n')[0]).toBe(String(16 * 1024 * 1024));
    expect(r.exitCode).toBe(137);
    expect(r.oomKilled).toBe(true);
  });
  it("keeps the daemon's environment (its secrets, its locale) from the monitor and the OCI runtime", async () => {
    const cid = id();
    vi.stubEnv('TSCTR_TEST_SECRET', 'daemon-only');
    vi.stubEnv('LC_ALL', 'C');
    try {
      const { monitorPid } = await runtime.create(cid, {
        rootfs,
        args: ['sleep', '60'],
        env: ENV,
        cgroupsPath: `/tsctr-test/${cid}`,
      });
      try {
        await runtime.start(cid);
        const monitorEnv = (await readFile(`/proc/${monitorPid}/environ`, 'utf8'))
          .split('\0')
          .filter(Boolean);
        const keys = monitorEnv.map((v) => v.slice(0, v.indexOf('=')));
        expect(keys).toContain('PATH');
        const allowed = ['PATH', 'HOME', 'TMPDIR', 'XDG_RUNTIME_DIR', 'LANG'];
        expect(keys.filter((k) => !allowed.includes(k) && !k.startsWith('_OCI_'))).toEqual([]);
        expect(monitorEnv.join('\n')).not.toContain('daemon-only');
        expect(monitorEnv).toContain('LANG=C.UTF-8');
      } finally {
        await runtime.kill(cid, 'SIGKILL');
        await runtime.wait(cid);
        await runtime.delete(cid);
      }
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('execs a process as another user in a running container, with each runtime that works here', async () => {
    for (const name of runtime.runtimes.keys()) {
      const cid = id();
      await runtime.create(
        cid,
        { rootfs, args: ['sleep', '60'], env: ENV, cgroupsPath: `/tsctr-test/${cid}` },
        { runtime: name },
      );
      try {
        await runtime.start(cid);
        const exec = async (args: string[]) => {
          const command = await runtime.execCommand(cid, `e${n++}`, {
            args,
            env: [...ENV, 'WHO=exec'],
            cwd: '/tmp',
            user: { uid: 1000, gid: 1000, additionalGids: [10] },
            terminal: false,
          });
          try {
            return await execa(command.file, command.args, { reject: false });
          } finally {
            await command.remove();
          }
        };
        const ok = await exec(['sh', '-c', 'echo $WHO $(pwd) $(id -u):$(id -G | tr " " ,); exit 3']);
        expect({ name, out: ok.stdout, code: ok.exitCode }).toEqual({
          name,
          out: 'exec /tmp 1000:1000,10',
          code: 3,
        });
        // runc and crun word a missing command differently: both read as Docker's message and 127.
        const missing = await exec(['nosuch']);
        expect(isCommandFailure(missing.stderr)).toBe(true);
        expect(commandFailureFrom(missing.stderr)).toEqual({
          message: expect.stringContaining('exec: "nosuch": executable file not found in $PATH'),
          exitCode: 127,
        });
      } finally {
        await runtime.kill(cid, 'SIGKILL');
        await runtime.wait(cid);
        await runtime.delete(cid);
      }
    }
  });
  it('hands crun the filter it compiled for a profile before, and the filter still holds (run and exec)', async (ctx) => {
    if (!runtime.runtimes.has('crun')) {
      console.warn(
        `compiled seccomp test skipped: crun cannot run here (${runtime.unusable.find((r) => r.name === 'crun')?.reason ?? 'not installed'})`,
      );
      ctx.skip();
    }
    // CAP_SYS_PACCT allows acct(2): a profile no other test here uses, so the first container
    // compiles it, the second gets the compiled filter.
    const input = (cid: string) => ({
      rootfs,
      args: ['sh', '-c', 'unshare -U true 2>&1; echo "unshare=$?"; sleep 30'],
      env: ENV,
      capAdd: ['SYS_PACCT'],
      cgroupsPath: `/tsctr-test/${cid}`,
    });
    for (const round of ['compiles', 'reuses']) {
      const cid = id();
      await runtime.create(cid, input(cid), { runtime: 'crun' });
      try {
        const config = JSON.parse(await readFile(join(runtime.bundleDir(cid), 'config.json'), 'utf8'));
        if (round === 'compiles') expect(config.linux.seccomp).toBeDefined();
        else {
          expect(config.linux.seccomp).toBeUndefined();
          expect(config.annotations['run.oci.seccomp_bpf_data']).toMatch(/^[A-Za-z0-9+/]+=*$/);
        }
        await runtime.start(cid);
        const command = await runtime.execCommand(cid, `s${n++}`, {
          args: ['unshare', '-U', 'true'],
          env: ENV,
          cwd: '/',
          user: { uid: 0, gid: 0 },
          terminal: false,
        });
        const exec = await execa(command.file, command.args, { reject: false });
        await command.remove();
        expect({ round, code: exec.exitCode, stderr: exec.stderr }).toEqual({
          round,
          code: 1,
          stderr: expect.stringContaining('Operation not permitted'),
        });
        // The container's own attempt, logged before its sleep.
        let log = '';
        for (let i = 0; i < 100 && !log.includes('unshare='); i++) {
          await new Promise((r) => setTimeout(r, 20));
          const { records } = await readLogRecords(join(runtime.bundleDir(cid), 'container.log'), 0);
          log = records.map((r) => r.text).join('');
        }
        expect({ round, log }).toEqual({ round, log: expect.stringContaining('unshare=1') });
      } finally {
        await runtime.kill(cid, 'SIGKILL');
        await runtime.wait(cid);
        await runtime.delete(cid);
      }
    }
  });
});

describe.skipIf(!isRoot)('choosing the OCI runtime', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'runtime-choice-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('offers only the runtimes that can create containers here, and says why the others cannot', async () => {
    const runtime = await ContainerRuntime.open({ stateDir: join(dir, 'state') });
    const installed = await findOciRuntimes();
    // Every installed runtime is either offered or reported with the runtime's own complaint.
    expect([...runtime.runtimes.keys(), ...runtime.unusable.map((r) => r.name)].sort()).toEqual(
      installed.map((r) => r.name).sort(),
    );
    for (const r of runtime.unusable) expect(r.reason).not.toBe('');
    expect(runtime.runtimes.get(runtime.oci.info.name)).toBe(runtime.oci);
    // On a cgroup v1 hybrid host whose v2 hierarchy holds a controller (this project's machines
    // until ./tools/bootstrap mounts hugetlb as v1), crun 1.8 refuses and runc is the default;
    // where crun works it is the default (it is the faster).
    const crun = runtime.unusable.find((r) => r.name === 'crun');
    const v2Controllers = await readFile('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').catch(() => '');
    if (crun && v2Controllers.trim() !== '') expect(crun.reason).toMatch(/hybrid/);
    if (crun) {
      expect(() => runtime.runtimeNamed('crun')).toThrow(
        /^runtime crun cannot run containers on this machine: /,
      );
    }
    expect(() => runtime.runtimeNamed('nosuch')).toThrow('unknown or invalid runtime name: nosuch');
    expect(runtime.runtimeNamed(undefined)).toBe(runtime.oci);
  });

  it("reports crun's refusal of a hybrid cgroup host with the way out, and fails when nothing else works", async () => {
    // A stand-in for crun 1.8 on a hybrid host whose v2 hierarchy holds a controller (the
    // project's machines before ./tools/bootstrap mounts hugetlb as v1): it logs its refusal.
    const fake = join(dir, 'crun');
    await writeFile(
      fake,
      [
        '#!/bin/sh',
        'while [ $# -gt 0 ]; do [ "$1" = --log ] && log=$2; shift; done',
        '[ -n "$log" ] && echo "cgroups in hybrid mode not supported, drop all controllers from cgroupv2" >> "$log"',
        'exit 1',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const reason = await probeOciRuntime({ name: 'crun', path: fake }, join(dir, 'scratch'));
    expect(reason).toMatch(
      /^cgroups in hybrid mode not supported, drop all controllers from cgroupv2 \(the cgroup v2 hierarchy /,
    );
    await expect(ContainerRuntime.open({ stateDir: join(dir, 'state3'), runtime: fake })).rejects.toThrow(
      /^no OCI runtime can run containers on this machine \(crun: cgroups in hybrid mode not supported/,
    );
  });

  it('falls back from an asked-for runtime that cannot work to one that does', async () => {
    const runtime = await ContainerRuntime.open({ stateDir: join(dir, 'state2'), runtime: 'crun' });
    if (runtime.unusable.some((r) => r.name === 'crun')) expect(runtime.oci.info.name).toBe('runc');
    else expect(runtime.oci.info.name).toBe('crun');
  });
});

describe.skipIf(!isRoot)('errors a caller can act on', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'runtime-errors-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("names a missing rootfs instead of passing on the OCI runtime's complaint", async () => {
    const runtime = await ContainerRuntime.open({ stateDir: join(dir, 'state'), probe: false });
    const rootfs = join(dir, 'no-such-rootfs');
    await expect(
      runtime.create('rt-missing-rootfs', {
        rootfs,
        args: ['true'],
        env: ENV,
        cgroupsPath: '/tsctr-test/rt-errors',
      }),
    ).rejects.toThrow(`rootfs ${rootfs} does not exist`);
  });

  it('names a runtime or conmon path that cannot be run', async () => {
    await expect(
      ContainerRuntime.open({ stateDir: join(dir, 'state'), runtime: '/nonexistent/crun' }),
    ).rejects.toThrow('OCI runtime /nonexistent/crun cannot be run: ENOENT');
    const rootfs = join(dir, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    const runtime = await ContainerRuntime.open({
      stateDir: join(dir, 'state'),
      probe: false,
      conmonPath: '/nonexistent/conmon',
    });
    await expect(
      runtime.create('rt-no-conmon', {
        rootfs,
        args: ['true'],
        env: ENV,
        cgroupsPath: '/tsctr-test/rt-errors',
      }),
    ).rejects.toThrow('conmon /nonexistent/conmon cannot be run: ENOENT');
  });

  it('tells a non-root caller that root is needed', async () => {
    const dist = resolve(__dirname, '../dist/index.js');
    const script = `import(${JSON.stringify(dist)}).then((m) => m.ContainerRuntime.open({ stateDir: '/tmp/never-made' })).catch((e) => { console.log(e.message); })`;
    const r = await execa('runuser', ['-u', 'nobody', '--', process.execPath, '-e', script], {
      reject: false,
    });
    expect(r.stdout).toBe('creating containers needs root (CAP_SYS_ADMIN): run as root, e.g. with sudo');
  });
});

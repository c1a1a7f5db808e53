import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('monitor death tests');

/**
 * conmon, each container's monitor, can die (OOM killer, a stray kill -9). Docker's containerd
 * notices a dead shim, kills what is left and records the exit (137); so does tsctrd: the
 * container is shown exited, cleaned up as after any exit, and stop/rm/wait answer.
 */
describe.skipIf(skip !== undefined)('a container whose monitor dies', () => {
  const daemon = useDaemon();

  async function runDetached(name: string, ...flags: string[]) {
    const r = await daemon.tsctr(['run', '-d', '--name', name, ...flags, 'busybox', 'sleep', '1000']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const id = r.stdout.trim();
    const bundle = join(daemon.execRoot, 'bundles', id);
    const conmon = Number((await readFile(join(bundle, 'conmon.pid'), 'utf8')).trim());
    const pid = Number((await readFile(join(bundle, 'pidfile'), 'utf8')).trim());
    const inspect = JSON.parse((await daemon.tsctr(['inspect', id])).stdout)[0];
    return { id, conmon, pid, sandbox: inspect.NetworkSettings.SandboxKey as string };
  }

  /** `docker ps` (running only) no longer lists it: polled, with a generous bound. */
  async function untilNotListed(id: string): Promise<void> {
    for (let i = 0; i < 300; i++) {
      const ps = await daemon.docker(['ps', '-q', '--no-trunc']);
      expect(ps.exitCode).toBe(0);
      if (!ps.stdout.includes(id)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${id} still listed as running`);
  }

  async function state(id: string) {
    return JSON.parse((await daemon.docker(['inspect', id])).stdout)[0].State;
  }

  /** The process is gone (or a different one has its PID). */
  async function processGone(pid: number): Promise<boolean> {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    return !cmdline.startsWith('sleep\u00001000');
  }

  const mountsOf = async (needle: string) =>
    (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(needle));

  it('is shown exited (137), its process killed, and is cleaned up as after any exit', async () => {
    const c = await runDetached('conmon-killed');
    expect(await processGone(c.pid)).toBe(false);
    expect(await mountsOf(c.id)).not.toEqual([]);
    process.kill(c.conmon, 'SIGKILL');
    await untilNotListed(c.id);
    const s = await state(c.id);
    expect(s.Status).toBe('exited');
    expect(s.Running).toBe(false);
    expect(s.ExitCode).toBe(137);
    expect(await processGone(c.pid)).toBe(true);
    // Its rootfs and its network namespace are unmounted, as after a normal exit.
    expect(await mountsOf(c.id)).toEqual([]);
    if (c.sandbox) expect(await mountsOf(c.sandbox)).toEqual([]);
    expect(await daemon.client.ping()).toBeTruthy();
    const rm = await daemon.docker(['rm', '-f', c.id]);
    expect(rm.stderr).toBe('');
    expect(rm.exitCode).toBe(0);
    expect((await daemon.docker(['ps', '-aq', '--no-trunc'])).stdout).not.toContain(c.id);
  });

  it('ends `docker wait` and answers `rm -f` at once', async () => {
    const c = await runDetached('conmon-wait');
    const wait = daemon.docker(['wait', c.id]);
    // The wait is registered before its monitor goes.
    await new Promise((r) => setTimeout(r, 500));
    process.kill(c.conmon, 'SIGKILL');
    const r = await wait;
    expect(r.stdout).toBe('137');
    expect(r.exitCode).toBe(0);

    // `rm -f` right after the monitor dies (nothing noticed yet) waits for the repair, not for an exit file.
    const d = await runDetached('conmon-rm');
    process.kill(d.conmon, 'SIGKILL');
    const rm = await daemon.docker(['rm', '-f', d.id]);
    expect(rm.stderr).toBe('');
    expect(rm.exitCode).toBe(0);
    expect(await processGone(d.pid)).toBe(true);
    expect(await mountsOf(d.id)).toEqual([]);
  });

  it('restarts it by its restart policy, as after any exit', async () => {
    const c = await runDetached('conmon-always', '--restart', 'always');
    process.kill(c.conmon, 'SIGKILL');
    const inspect = async () => JSON.parse((await daemon.docker(['inspect', c.id])).stdout)[0];
    let r = await inspect();
    for (let i = 0; i < 300 && !(r.RestartCount === 1 && r.State.Running); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      r = await inspect();
    }
    expect([r.RestartCount, r.State.Running]).toEqual([1, true]);
    expect(await processGone(c.pid)).toBe(true);
    expect((await daemon.docker(['rm', '-f', c.id])).exitCode).toBe(0);
  });

  it('is repaired when the daemon starts and finds its monitor gone', async () => {
    const c = await runDetached('conmon-recovery');
    await daemon.kill9();
    process.kill(c.conmon, 'SIGKILL');
    await daemon.launch();
    await untilNotListed(c.id);
    const s = await state(c.id);
    expect(s.Status).toBe('exited');
    expect(s.ExitCode).toBe(137);
    expect(await processGone(c.pid)).toBe(true);
    expect(await mountsOf(c.id)).toEqual([]);
    expect((await daemon.docker(['rm', '-f', c.id])).exitCode).toBe(0);
    // Nothing of it is left in the OCI runtime either.
    expect(await readdir(join(daemon.execRoot, 'bundles')).catch(() => [])).not.toContain(c.id);
  });
});

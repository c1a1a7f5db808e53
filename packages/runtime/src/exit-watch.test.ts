import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ExitStatus, MONITOR_DIED_EXIT_CODE, recordMonitorDeath, waitForExit } from './exit-watch.js';
import { readExitCode } from './monitor.js';

/**
 * A stand-in monitor: `sleep` copied under the name `conmon` (what /proc shows), its PID in the
 * bundle's conmon.pid, as conmon writes it; and a stand-in container process in the pidfile.
 */
describe('waitForExit', () => {
  let dir: string;
  let exitDir: string;
  let bundle: string;
  const children: number[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'exit-watch-'));
    exitDir = join(dir, 'exits');
    bundle = join(dir, 'bundle');
    await mkdir(exitDir);
    await mkdir(bundle);
  });
  afterEach(async () => {
    for (const pid of children.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  async function startSleep(name: string): Promise<ReturnType<typeof spawn>> {
    const bin = join(dir, name);
    await copyFile('/bin/sleep', bin);
    const child = spawn(bin, ['1000'], { stdio: 'ignore' });
    children.push(child.pid!);
    return child;
  }

  function deps(container: ReturnType<typeof spawn>) {
    const status = async (): Promise<ExitStatus | undefined> => {
      const exitCode = await readExitCode(exitDir, 'c1');
      return exitCode === undefined ? undefined : { exitCode, oomKilled: false };
    };
    const watched = { id: 'c1', exitDir, bundle, status };
    let deaths = 0;
    return {
      deaths: () => deaths,
      deps: {
        ...watched,
        monitorDied: () => {
          deaths++;
          return recordMonitorDeath({ ...watched, killAll: async () => void container.kill('SIGKILL') });
        },
      },
    };
  }

  it('answers with the exit file conmon writes, while conmon lives', async () => {
    const conmon = await startSleep('conmon');
    const container = await startSleep('app');
    await writeFile(join(bundle, 'conmon.pid'), String(conmon.pid));
    const d = deps(container);
    const waiting = waitForExit(d.deps);
    await writeFile(join(exitDir, 'c1'), '3');
    expect(await waiting).toEqual({ exitCode: 3, oomKilled: false });
    expect(d.deaths()).toBe(0);
  });

  it('kills the container and records 137 when conmon dies without an exit file', async () => {
    const conmon = await startSleep('conmon');
    const container = await startSleep('app');
    await writeFile(join(bundle, 'conmon.pid'), String(conmon.pid));
    await writeFile(join(bundle, 'pidfile'), String(container.pid));
    const d = deps(container);
    const containerGone = new Promise((r) => container.once('exit', r));
    const waiting = waitForExit(d.deps);
    conmon.kill('SIGKILL');
    expect(await waiting).toEqual({ exitCode: MONITOR_DIED_EXIT_CODE, oomKilled: false, monitorDied: true });
    await containerGone;
    expect(await readFile(join(exitDir, 'c1'), 'utf8')).toBe('137');
    expect(d.deaths()).toBe(1);
  });

  it('does not take a process that is not conmon (a reused PID) for the monitor', async () => {
    const other = await startSleep('other');
    const container = await startSleep('app');
    await writeFile(join(bundle, 'conmon.pid'), String(other.pid));
    await writeFile(join(bundle, 'pidfile'), String(container.pid));
    const d = deps(container);
    const status = await waitForExit(d.deps);
    expect(status.exitCode).toBe(MONITOR_DIED_EXIT_CODE);
    expect(d.deaths()).toBe(1);
  });
});

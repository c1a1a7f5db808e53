import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { TestDaemon, e2eSkipReason } from './daemon.js';

/**
 * Why the end-to-end tests of `what` cannot run here (root, built apps, runc and conmon, then
 * each of `more` in turn), printed once as `<what> skipped: <reason>`; undefined when they can.
 * Use it as `describe.skipIf(skip !== undefined)`.
 */
export function e2eSkip(what: string, ...more: Array<() => string | undefined>): string | undefined {
  let reason = e2eSkipReason();
  for (const check of more) reason ??= check();
  if (reason) console.warn(`${what} skipped: ${reason}`);
  return reason;
}

export interface DaemonFixtureOptions {
  /** Extra `tsctrd` flags; a function when they are known only once earlier hooks have run. */
  args?: string[] | (() => string[]);
  /** The daemon directory's mode (0700 by default; `--userns-remap` needs o+x above its root). */
  dirMode?: number;
  /** Import the busybox rootfs as `busybox:latest` once started (default true). */
  busybox?: boolean;
  /**
   * What the tests leave behind that `destroy()` does not remove, cleared through this CLI
   * before it: every container, then unused networks and/or the swarm.
   */
  prune?: { cli: 'tsctr' | 'docker'; networks?: boolean; swarm?: boolean };
}

/**
 * A private `tsctrd` for the enclosing describe block: started (and busybox imported) in a
 * `beforeAll`, stopped and cleaned up (containers, mounts, bridge, firewall table, cgroups,
 * directories) in an `afterAll`. The returned daemon's paths are usable at once; its client and
 * CLIs once the hooks have run.
 *
 * Hook order (vitest runs `afterAll` hooks in reverse): a hook registered after `useDaemon`
 * runs after the start and before the teardown; register one before it to prepare what the
 * daemon needs (certificates, ports: pass `args` as a function) or to clean up after it stopped.
 */
export function useDaemon(options: DaemonFixtureOptions = {}): TestDaemon {
  const daemon = TestDaemon.create();
  beforeAll(async () => {
    const args = typeof options.args === 'function' ? options.args() : options.args;
    await daemon.start({
      ...(args !== undefined ? { args } : {}),
      ...(options.dirMode !== undefined ? { dirMode: options.dirMode } : {}),
    });
    if (options.busybox ?? true) await daemon.importBusybox();
  });
  afterAll(async () => {
    const prune = options.prune;
    if (prune && daemon.running) {
      const cli = (args: string[]) => daemon[prune.cli](args);
      const list = (await cli(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (list.length > 0) await cli(['rm', '-f', ...list]);
      if (prune.networks) await cli(['network', 'prune', '-f']);
      if (prune.swarm) await cli(['swarm', 'leave', '--force']);
    }
    await daemon.destroy();
  });
  return daemon;
}

/**
 * A scratch directory for the enclosing describe block, made in a `beforeAll` and removed in an
 * `afterAll`. Its path is known at once. Call it before `useDaemon` so the directory outlives
 * the daemon (containers may still use files in it until the daemon is gone).
 */
export function useTempDir(prefix: string): string {
  const dir = join(tmpdir(), `${prefix}${randomBytes(6).toString('hex')}`);
  beforeAll(async () => {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

import type { Logger } from '@ts-container/common';
import type { ContainerRuntime } from '@ts-container/runtime';
import type { ContainerStore } from './container-store.js';
import { normaliseSignal } from './container-views.js';
import { EngineError, conflict } from './errors.js';
import type { ContainerLifecycle } from './lifecycle.js';
import type { RestartManager } from './restart-manager.js';

const DEFAULT_STOP_TIMEOUT = 10;
/** How long `kill` waits for a SIGKILLed container to exit (Docker: 10 s). */
const KILL_EXIT_TIMEOUT_MS = 10_000;

export interface StopDeps {
  store: Pick<ContainerStore, 'get' | 'update'>;
  restarts: Pick<RestartManager, 'starting' | 'cancel'>;
  lifecycle: Pick<ContainerLifecycle, 'transition'>;
  runtime: Pick<ContainerRuntime, 'kill'>;
  /** Resolves when the container's current run has ended and its state is saved. */
  exited(id: string): Promise<void> | undefined;
  logger: Logger;
}

/**
 * `docker kill`. Docker answers a SIGKILL once the container has exited (and its state is
 * saved), so an inspect or a remove right after sees it stopped; other signals answer at once.
 */
export async function killContainer(deps: StopDeps, ref: string, signal = 'SIGKILL'): Promise<void> {
  const c = deps.store.get(ref);
  if (!c.State.Running) throw conflict(`Cannot kill container: ${ref}: container ${c.Id} is not running`);
  const sig = normaliseSignal(signal);
  const exited = deps.exited(c.Id);
  await deps.runtime.kill(c.Id, sig);
  // Docker answers a SIGKILL once the container has exited (and its state is saved), so an
  // inspect or a remove right after sees it stopped; other signals answer at once. A frozen
  // (paused) process takes the signal only once thawed: no wait for it.
  if ((sig === 'SIGKILL' || sig === '9') && exited && !c.State.Paused) {
    const done = await Promise.race([exited.then(() => true), sleep(KILL_EXIT_TIMEOUT_MS).then(() => false)]);
    if (!done) deps.logger.warn(`kill ${c.Id}: still running ${KILL_EXIT_TIMEOUT_MS} ms after SIGKILL`);
  }
}

/**
 * `docker stop`: the stop signal, then SIGKILL after the timeout. A restart by policy under
 * way finishes first, and is then stopped; a pending one is cancelled.
 */
export async function stopContainer(
  deps: StopDeps,
  ref: string,
  options: { timeout?: number; signal?: string } = {},
): Promise<void> {
  let c = deps.store.get(ref);
  const starting = deps.restarts.starting(c.Id);
  if (starting) {
    // A restart by policy is under way: it is not "stopped" yet; let it finish, then stop it.
    await starting;
    c = deps.store.get(ref);
  }
  if (!c.State.Running && deps.restarts.cancel(c.Id)) {
    await deps.lifecycle.transition(c.Id, { type: 'restart-cancelled', stoppedByUser: true });
    return;
  }
  // Also when it is not running (between a run's end and its policy restart being
  // scheduled, say): no restart after a stop.
  await deps.store.update(c.Id, (r) => {
    r.StoppedByUser = true;
  });
  if (!c.State.Running) throw new EngineError('not-modified', 'container already stopped');
  const exited = deps.exited(c.Id) ?? Promise.resolve();
  const timeout = options.timeout ?? c.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT;
  // `-t 0` gives the stop signal no time to act: straight to SIGKILL (as Podman does), one
  // OCI runtime call fewer. A negative timeout waits as long as it takes (Docker's -1).
  if (timeout !== 0)
    await deps.runtime
      .kill(c.Id, normaliseSignal(options.signal ?? c.Config.StopSignal ?? 'SIGTERM'))
      .catch((e: unknown) => deps.logger.warn(`stop ${c.Id}: ${String(e)}`));
  const graceful =
    timeout < 0
      ? await exited.then(() => true)
      : timeout > 0 &&
        (await Promise.race([exited.then(() => true), sleep(timeout * 1000).then(() => false)]));
  if (!graceful) {
    await deps.runtime
      .kill(c.Id, 'SIGKILL', true)
      .catch((e: unknown) => deps.logger.warn(`kill ${c.Id}: ${String(e)}`));
    await exited;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

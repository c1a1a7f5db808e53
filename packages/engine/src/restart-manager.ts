import type { Logger } from '@ts-container/common';
import type { ContainerRecord } from './container-store.js';
import type { ContainerLifecycle } from './lifecycle.js';

/** Docker's restart back-off: 100 ms, doubling on each quick failure up to a minute. */
export const RESTART_BACKOFF_START_MS = 100;
export const RESTART_BACKOFF_MAX_MS = 60_000;
/** A run at least this long resets the back-off. */
export const RESTART_BACKOFF_RESET_MS = 10_000;

/** Whether a container that just exited is due a restart by its restart policy. */
export function shouldRestart(c: ContainerRecord): boolean {
  if (c.StoppedByUser) return false;
  const policy = c.HostConfig.RestartPolicy;
  switch (policy?.Name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure': {
      const max = policy.MaximumRetryCount ?? 0;
      return c.State.ExitCode !== 0 && (max <= 0 || c.RestartCount < max);
    }
    default:
      return false;
  }
}

/** The next back-off delay after a run that lasted `ranForMs`, given the previous delay. */
export function nextRestartDelay(previous: number | undefined, ranForMs: number): number {
  return previous === undefined || ranForMs >= RESTART_BACKOFF_RESET_MS
    ? RESTART_BACKOFF_START_MS
    : Math.min(previous * 2, RESTART_BACKOFF_MAX_MS);
}

export interface RestartManagerDeps {
  find(id: string): ContainerRecord | undefined;
  /** Starts a container by its policy (counted in RestartCount). */
  start(id: string): Promise<void>;
  lifecycle: Pick<ContainerLifecycle, 'transition'>;
  logger: Logger;
}

/**
 * Restarts by policy: schedules each with Docker's back-off, remembers the starts under way
 * (a `stop` or `remove` waits for one, then acts on what it started) and drops pending ones.
 */
export class RestartManager {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly delays = new Map<string, number>();
  private readonly starts = new Map<string, Promise<void>>();

  constructor(private readonly deps: RestartManagerDeps) {}

  /** A restart by policy is waiting for its timer. */
  pending(id: string): boolean {
    return this.timers.has(id);
  }

  /** The start by policy under way for `id`, if any. */
  starting(id: string): Promise<void> | undefined {
    return this.starts.get(id);
  }

  /** The back-off delay the container is at (undefined before its first restart). */
  delay(id: string): number | undefined {
    return this.delays.get(id);
  }

  /** Schedules the next restart of an exited container, after its back-off delay. */
  async schedule(record: ContainerRecord): Promise<void> {
    const id = record.Id;
    const ranFor = Date.parse(record.State.FinishedAt) - Date.parse(record.State.StartedAt);
    const delay = nextRestartDelay(this.delays.get(id), ranFor);
    this.delays.set(id, delay);
    await this.deps.lifecycle.transition(id, { type: 'restart-pending' });
    const timer = setTimeout(() => this.fire(id), delay);
    this.timers.set(id, timer);
  }

  private fire(id: string): void {
    this.timers.delete(id);
    const current = this.deps.find(id);
    if (!current || current.State.Running) return;
    if (current.StoppedByUser) {
      // Stopped while this restart was being scheduled: it stays exited.
      void this.deps.lifecycle
        .transition(id, { type: 'restart-cancelled', stoppedByUser: false })
        .catch((err: unknown) => this.deps.logger.error(`container ${id}: ${String(err)}`));
      return;
    }
    const starting = this.deps
      .start(id)
      .catch(async (err: unknown) => {
        this.deps.logger.warn(`restart of ${id}: ${String(err)}`);
        const failed = this.deps.find(id);
        if (failed && shouldRestart(failed)) await this.schedule(failed);
      })
      .catch((err: unknown) => this.deps.logger.error(`restart of ${id}: ${String(err)}`))
      .finally(() => this.starts.delete(id));
    this.starts.set(id, starting);
  }

  /** Drops a pending restart (user stop, start or removal); true if one was pending. */
  cancel(id: string): boolean {
    const timer = this.timers.get(id);
    this.delays.delete(id);
    if (!timer) return false;
    clearTimeout(timer);
    this.timers.delete(id);
    return true;
  }
}

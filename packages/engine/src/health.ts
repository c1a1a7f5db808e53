import { Writable } from 'node:stream';
import type { Logger } from '@ts-container/common';
import type { ContainerRecord, ContainerStore } from './container-store.js';
import type { ContainerService } from './containers.js';
import { type Healthcheck, healthCommand } from './health-check.js';
import type { ExecService } from './interactive.js';

/** The label `--health-on-failure=none|kill|restart|stop` is stored in. */
export const HEALTH_ON_FAILURE_LABEL = 'io.tsctr.health-on-failure';

/** Docker's defaults for a HEALTHCHECK without options (durations in nanoseconds). */
const DEFAULT_INTERVAL_NS = 30e9;
const DEFAULT_TIMEOUT_NS = 30e9;
const DEFAULT_RETRIES = 3;
/** Docker keeps the last five probes and at most 4 KiB of each one's output. */
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT = 4096;

export { type Healthcheck, healthCommand } from './health-check.js';

export interface HealthMonitorDeps {
  containers: Pick<ContainerService, 'events' | 'kill' | 'stop' | 'start'>;
  store: Pick<ContainerStore, 'all' | 'find' | 'update'>;
  exec: Pick<ExecService, 'create' | 'get' | 'start' | 'remove'>;
  logger: Logger;
}

/**
 * Runs each running container's health check (as an exec) at its interval and keeps
 * State.Health as Docker does: `starting` until the first success (failures within the start
 * period do not count), `healthy`, or `unhealthy` after `Retries` consecutive failures.
 */
export class HealthMonitor {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Unhealthy containers whose `--health-on-failure` action has not succeeded yet. */
  private readonly actionPending = new Set<string>();

  constructor(private readonly deps: HealthMonitorDeps) {
    const containers = deps.containers;
    containers.events.on('start', (r: ContainerRecord) => void this.begin(r));
    containers.events.on('die', (r: ContainerRecord) => this.end(r.Id));
    containers.events.on('destroy', (r: ContainerRecord) => this.end(r.Id));
    // Containers still running after a daemon restart are checked again.
    setImmediate(() => {
      for (const c of deps.store.all()) if (c.State.Running) void this.begin(c, false);
    });
  }

  private async begin(c: ContainerRecord, reset = true): Promise<void> {
    const check = c.Config.Healthcheck as Healthcheck | undefined;
    const cmd = healthCommand(check);
    if (!cmd || this.timers.has(c.Id)) return;
    if (reset || !c.State.Health)
      await this.deps.store.update(c.Id, (r) => {
        r.State.Health = { Status: 'starting', FailingStreak: 0, Log: [] };
      });
    const interval = (check?.Interval || DEFAULT_INTERVAL_NS) / 1e6;
    const schedule = () => {
      const timer = setTimeout(async () => {
        await this.probe(c.Id, cmd, check ?? {}).catch((err: unknown) =>
          this.deps.logger.warn(`health check of ${c.Id}: ${String(err)}`),
        );
        if (this.timers.get(c.Id) === timer) schedule();
      }, interval);
      timer.unref();
      this.timers.set(c.Id, timer);
    };
    schedule();
  }

  private end(id: string): void {
    this.actionPending.delete(id);
    const timer = this.timers.get(id);
    if (timer) clearTimeout(timer);
    this.timers.delete(id);
  }

  /** Runs one probe now and records its result. */
  async probe(id: string, cmd: string[], check: Healthcheck): Promise<void> {
    const c = this.deps.store.find(id);
    if (!c?.State.Running || c.State.Paused) return;
    const start = new Date().toISOString();
    let output = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (output.length < MAX_OUTPUT) output += chunk.toString();
        cb();
      },
    });
    const execId = this.deps.exec.create(id, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const timeoutMs = (check.Timeout || DEFAULT_TIMEOUT_NS) / 1e6;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.deps.exec.get(execId).process?.kill('SIGKILL');
    }, timeoutMs);
    let exitCode: number;
    try {
      exitCode = await this.deps.exec.start(execId, { stdout: sink, stderr: sink });
    } finally {
      clearTimeout(timer);
      this.deps.exec.remove(execId);
    }
    if (timedOut) {
      exitCode = -1;
      output = `Health check exceeded timeout (${timeoutMs / 1000}s)`;
    }
    const end = new Date().toISOString();
    const startPeriodMs = (check.StartPeriod ?? 0) / 1e6;
    const inStartPeriod = Date.now() - Date.parse(c.State.StartedAt) < startPeriodMs;
    const retries = check.Retries || DEFAULT_RETRIES;
    let becameUnhealthy = false;
    let unhealthy = false;
    await this.deps.store.update(id, (r) => {
      const health = r.State.Health ?? { Status: 'starting' as const, FailingStreak: 0, Log: [] };
      health.Log = [
        ...health.Log,
        { Start: start, End: end, ExitCode: exitCode, Output: output.slice(0, MAX_OUTPUT) },
      ].slice(-MAX_LOG_ENTRIES);
      if (exitCode === 0) {
        health.Status = 'healthy';
        health.FailingStreak = 0;
      } else if (!(inStartPeriod && health.Status === 'starting')) {
        health.FailingStreak++;
        if (health.FailingStreak >= retries && health.Status !== 'unhealthy') {
          health.Status = 'unhealthy';
          becameUnhealthy = true;
        }
      }
      unhealthy = health.Status === 'unhealthy';
      r.State.Health = health;
    });
    if (!unhealthy) this.actionPending.delete(id);
    // An action that failed (say, the runtime was busy) is tried again at the next failing check.
    if (becameUnhealthy || (unhealthy && this.actionPending.has(id))) {
      try {
        await this.onFailure(id);
        this.actionPending.delete(id);
      } catch (err) {
        this.actionPending.add(id);
        this.deps.logger.warn(`--health-on-failure action for ${id}: ${String(err)}`);
      }
    }
  }

  /** `--health-on-failure`: what to do once a container turns unhealthy. */
  private async onFailure(id: string): Promise<void> {
    const c = this.deps.store.find(id);
    const action =
      (c?.Config.Labels as Record<string, string> | undefined)?.[HEALTH_ON_FAILURE_LABEL] ?? 'none';
    const containers = this.deps.containers;
    if (action !== 'none')
      this.deps.logger.info(`container ${id} is unhealthy: --health-on-failure=${action}`);
    if (action === 'kill') await containers.kill(id, 'SIGKILL');
    else if (action === 'stop') await containers.stop(id);
    else if (action === 'restart') {
      await containers.stop(id);
      await containers.start(id);
    }
  }
}

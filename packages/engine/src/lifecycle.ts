import { EventEmitter } from 'node:events';
import {
  type ContainerRecord,
  type ContainerStatus,
  ContainerStatusSchema,
  type ContainerStore,
} from './container-store.js';
import { conflict } from './errors.js';

/** What happens to a container; each moves its state in one validated, atomic step. */
export type LifecycleEvent =
  | {
      type: 'start';
      pid: number;
      monitorPid: number;
      /** Started by its restart policy: counted in RestartCount. */
      byPolicy: boolean;
      /** It has a health check: `starting` until the first probe, as Docker shows it. */
      healthCheck: boolean;
    }
  /** A start that did not get as far as a running process. */
  | { type: 'start-failed'; exitCode: number; error: string }
  /**
   * The process ended; `restartIf` says, on the record with the exit applied (read in the
   * store's queue, so a racing `stop` is seen), whether its policy will start it again.
   */
  | { type: 'exit'; exitCode: number; oomKilled: boolean; restartIf?: (r: ContainerRecord) => boolean }
  /** A restart by policy is scheduled. */
  | { type: 'restart-pending' }
  /** A scheduled restart is dropped (user stop, or stopped while it was being scheduled). */
  | { type: 'restart-cancelled'; stoppedByUser: boolean }
  | { type: 'pause' }
  | { type: 'unpause' }
  /** Removal begins (`Removal In Progress`). */
  | { type: 'remove' };

export type LifecycleEventType = LifecycleEvent['type'];

const ANY: readonly ContainerStatus[] = ContainerStatusSchema.options;
const STOPPED: readonly ContainerStatus[] = ['created', 'exited', 'restarting', 'dead'];

/** The states each event may leave (Docker's state machine, as moby's container/state.go keeps it). */
export const ALLOWED_FROM: Readonly<Record<LifecycleEventType, readonly ContainerStatus[]>> = {
  start: STOPPED,
  'start-failed': STOPPED,
  exit: ['running', 'paused', 'restarting'],
  'restart-pending': ['exited', 'restarting'],
  'restart-cancelled': ['exited', 'restarting'],
  pause: ['running'],
  unpause: ['paused'],
  // Removal is refused earlier (a running container needs force); here it always proceeds,
  // even for a container whose kill failed, as it did before the lifecycle had one door.
  remove: ANY,
};

/** The event (Docker's action) each transition announces, if any. */
const ACTIONS: Partial<Record<LifecycleEventType, string>> = {
  start: 'start',
  'start-failed': 'die',
  exit: 'die',
  pause: 'pause',
  unpause: 'unpause',
};

/** Where lifecycle events go: an EventEmitter of actions, plus `event` with Docker's shape. */
export interface EventSink {
  emit(action: string, record: ContainerRecord): void;
}

/** The store operations the lifecycle needs. */
export type LifecycleStore = Pick<ContainerStore, 'get' | 'save' | 'update' | 'delete'>;

/**
 * The one door through which a container's state changes: `transition` checks the change is
 * allowed from the state the record is in (read inside the store's per-container queue, so
 * two racing changes see each other), saves the record atomically, then emits the event.
 */
export class ContainerLifecycle implements EventSink {
  /** `create`, `start`, `die`, `pause`, `unpause`, `destroy`…, each with the record; `event` with all. */
  readonly events = new EventEmitter();

  constructor(private readonly store: LifecycleStore) {
    this.events.setMaxListeners(0);
  }

  async transition(id: string, event: LifecycleEvent): Promise<ContainerRecord> {
    const record = await this.store.update(id, (r) => {
      const from = r.State.Status;
      if (!ALLOWED_FROM[event.type].includes(from))
        throw conflict(`cannot ${event.type} container ${r.Id}: container is ${from}`);
      apply(r, event);
    });
    const action = ACTIONS[event.type];
    if (action) this.emit(action, record);
    return record;
  }

  /** A new container: saved, then announced. */
  async created(record: ContainerRecord): Promise<void> {
    await this.store.save(record);
    this.emit('create', record);
  }

  /** A removed container: forgotten, then announced. */
  async destroyed(record: ContainerRecord): Promise<void> {
    await this.store.delete(record.Id);
    this.emit('destroy', record);
  }

  emit(action: string, record: ContainerRecord): void {
    this.events.emit(action, record);
    this.events.emit('event', { Type: 'container', Action: action, id: record.Id, record });
  }
}

function apply(r: ContainerRecord, e: LifecycleEvent): void {
  const now = new Date().toISOString();
  switch (e.type) {
    case 'start':
      r.State = {
        ...r.State,
        Status: 'running',
        Running: true,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: e.pid,
        MonitorPid: e.monitorPid,
        ExitCode: 0,
        Error: '',
        StartedAt: now,
        FinishedAt: '0001-01-01T00:00:00Z',
      };
      if (e.healthCheck) r.State.Health = { Status: 'starting', FailingStreak: 0, Log: [] };
      r.StoppedByUser = false;
      r.RestartCount = e.byPolicy ? r.RestartCount + 1 : 0;
      return;
    case 'start-failed':
      r.State = {
        ...r.State,
        Status: r.State.Status === 'created' ? 'created' : 'exited',
        ExitCode: e.exitCode,
        Error: e.error,
      };
      return;
    case 'exit':
      r.State = {
        ...r.State,
        Status: 'exited',
        Running: false,
        Paused: false,
        Restarting: false,
        OOMKilled: e.oomKilled,
        Pid: 0,
        MonitorPid: 0,
        ExitCode: e.exitCode,
        FinishedAt: now,
      };
      if (e.restartIf?.(r)) {
        r.State.Restarting = true;
        r.State.Status = 'restarting';
      }
      return;
    case 'restart-pending':
      r.State.Restarting = true;
      r.State.Status = 'restarting';
      return;
    case 'restart-cancelled':
      if (e.stoppedByUser) r.StoppedByUser = true;
      r.State.Restarting = false;
      r.State.Status = 'exited';
      return;
    case 'pause':
      r.State.Paused = true;
      r.State.Status = 'paused';
      return;
    case 'unpause':
      r.State.Paused = false;
      r.State.Status = 'running';
      return;
    case 'remove':
      r.State.Status = 'removing';
      return;
  }
}

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ContainerRecord, emptyState } from './container-store.js';
import type { LifecycleEvent } from './lifecycle.js';
import { RestartManager, nextRestartDelay } from './restart-manager.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function exited(over: Partial<ContainerRecord> = {}, ranForMs = 50): ContainerRecord {
  const finished = Date.now();
  return {
    Id: 'c1',
    Name: '/c1',
    Created: new Date().toISOString(),
    Path: 'sh',
    Args: [],
    Config: {},
    HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 0 } },
    Image: 'sha256:x',
    State: {
      ...emptyState(),
      Status: 'restarting',
      Restarting: true,
      StartedAt: new Date(finished - ranForMs).toISOString(),
      FinishedAt: new Date(finished).toISOString(),
    },
    RestartCount: 0,
    StoppedByUser: false,
    Driver: 'copy',
    LogPath: '/x',
    HostnamePath: '/x',
    HostsPath: '/x',
    ResolvConfPath: '/x',
    NetworkSettings: {},
    MountPoints: [],
    ...over,
  };
}

function harness(record: ContainerRecord | undefined = exited()) {
  const state: { record: ContainerRecord | undefined } = { record };
  const transitions: LifecycleEvent['type'][] = [];
  const starts: string[] = [];
  let failStart = false;
  let gate: Promise<void> = Promise.resolve();
  const manager = new RestartManager({
    find: () => state.record,
    start: async (id) => {
      starts.push(id);
      await gate;
      if (failStart) throw new Error('start failed');
    },
    lifecycle: {
      transition: async (_id, e) => {
        transitions.push(e.type);
        return state.record!;
      },
    },
    logger: silent,
  });
  return {
    manager,
    state,
    transitions,
    starts,
    failStartsFromNowOn: () => {
      failStart = true;
    },
    holdStarts: () => {
      let open!: () => void;
      gate = new Promise((r) => {
        open = r;
      });
      return open;
    },
  };
}

describe('RestartManager (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('doubles the back-off on quick failures up to a minute, and resets after a 10 s run', () => {
    let d: number | undefined;
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) seen.push((d = nextRestartDelay(d, 50)));
    expect(seen.slice(0, 4)).toEqual([100, 200, 400, 800]);
    expect(seen.at(-1)).toBe(60_000);
    expect(nextRestartDelay(60_000, 10_000)).toBe(100);
  });

  it('starts the container only once its delay has passed', async () => {
    const h = harness();
    await h.manager.schedule(h.state.record!);
    expect(h.transitions).toEqual(['restart-pending']);
    expect(h.manager.pending('c1')).toBe(true);
    await vi.advanceTimersByTimeAsync(99);
    expect(h.starts).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.starts).toEqual(['c1']);
    expect(h.manager.pending('c1')).toBe(false);
  });

  it('waits longer after each quick failure', async () => {
    const h = harness();
    for (const expected of [100, 200, 400]) {
      await h.manager.schedule(exited());
      expect(h.manager.delay('c1')).toBe(expected);
      await vi.advanceTimersByTimeAsync(expected);
    }
    expect(h.starts).toHaveLength(3);
  });

  it('a cancel (user stop, start or remove) drops the pending restart and the back-off', async () => {
    const h = harness();
    await h.manager.schedule(h.state.record!);
    expect(h.manager.cancel('c1')).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.starts).toEqual([]);
    expect(h.manager.delay('c1')).toBeUndefined();
    expect(h.manager.cancel('c1')).toBe(false);
  });

  it('a container stopped while its restart was scheduled stays exited', async () => {
    const h = harness();
    await h.manager.schedule(h.state.record!);
    h.state.record = { ...h.state.record!, StoppedByUser: true };
    await vi.advanceTimersByTimeAsync(100);
    expect(h.starts).toEqual([]);
    expect(h.transitions).toEqual(['restart-pending', 'restart-cancelled']);
  });

  it('a removed container is not started', async () => {
    const h = harness();
    await h.manager.schedule(h.state.record!);
    h.state.record = undefined;
    await vi.advanceTimersByTimeAsync(100);
    expect(h.starts).toEqual([]);
  });

  it('a failed restart is scheduled again while the policy allows, with a longer delay', async () => {
    const h = harness();
    h.failStartsFromNowOn();
    await h.manager.schedule(h.state.record!);
    await vi.advanceTimersByTimeAsync(100);
    expect(h.starts).toEqual(['c1']);
    expect(h.manager.pending('c1')).toBe(true);
    expect(h.manager.delay('c1')).toBe(200);
    await vi.advanceTimersByTimeAsync(200);
    expect(h.starts).toEqual(['c1', 'c1']);
  });

  it('exposes a start under way, so that stop and remove can wait for it', async () => {
    const h = harness();
    const release = h.holdStarts();
    await h.manager.schedule(h.state.record!);
    await vi.advanceTimersByTimeAsync(100);
    // The start was called; until its promise settles, starting() returns it.
    const starting = h.manager.starting('c1');
    expect(starting).toBeDefined();
    release();
    await starting;
    expect(h.manager.starting('c1')).toBeUndefined();
  });
});

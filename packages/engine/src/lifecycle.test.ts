import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ContainerRecord, type ContainerStatus, ContainerStore, emptyState } from './container-store.js';
import { errorKind } from './errors.js';
import { ALLOWED_FROM, ContainerLifecycle, type LifecycleEvent } from './lifecycle.js';

function record(id: string, dir: string): ContainerRecord {
  return {
    Id: id,
    Name: `/${id}`,
    Created: new Date().toISOString(),
    Path: 'sh',
    Args: [],
    Config: {},
    HostConfig: {},
    Image: 'sha256:x',
    State: emptyState(),
    RestartCount: 0,
    StoppedByUser: false,
    Driver: 'copy',
    LogPath: join(dir, 'log'),
    HostnamePath: join(dir, 'hostname'),
    HostsPath: join(dir, 'hosts'),
    ResolvConfPath: join(dir, 'resolv.conf'),
    NetworkSettings: {},
    MountPoints: [],
  };
}

const start: LifecycleEvent = { type: 'start', pid: 10, monitorPid: 9, byPolicy: false, healthCheck: false };

describe('ContainerLifecycle.transition', () => {
  let dir: string;
  let store: ContainerStore;
  let lifecycle: ContainerLifecycle;
  let events: { action: string; status: string }[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifecycle-'));
    store = new ContainerStore(dir);
    await store.load();
    lifecycle = new ContainerLifecycle(store);
    events = [];
    lifecycle.events.on('event', (e: { Action: string; record: ContainerRecord }) =>
      events.push({ action: e.Action, status: e.record.State.Status }),
    );
    await lifecycle.created(record('c1', dir));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('moves a container through start, pause, unpause and exit, saving and emitting each', async () => {
    await lifecycle.transition('c1', start);
    await lifecycle.transition('c1', { type: 'pause' });
    await lifecycle.transition('c1', { type: 'unpause' });
    await lifecycle.transition('c1', { type: 'exit', exitCode: 3, oomKilled: false });
    expect(events).toEqual([
      { action: 'create', status: 'created' },
      { action: 'start', status: 'running' },
      { action: 'pause', status: 'paused' },
      { action: 'unpause', status: 'running' },
      { action: 'die', status: 'exited' },
    ]);
    // Saved: a fresh store reads the same state from disk.
    const reread = new ContainerStore(dir);
    await reread.load();
    expect(reread.get('c1').State).toMatchObject({ Status: 'exited', Running: false, ExitCode: 3, Pid: 0 });
  });

  it('refuses a transition from a state that does not allow it, changing and emitting nothing', async () => {
    for (const bad of [
      { type: 'pause' },
      { type: 'unpause' },
      { type: 'exit', exitCode: 0, oomKilled: false },
    ] as const) {
      const err = await lifecycle.transition('c1', bad).catch((e: unknown) => e);
      expect(errorKind(err)).toBe('conflict');
    }
    await lifecycle.transition('c1', start);
    expect(errorKind(await lifecycle.transition('c1', start).catch((e: unknown) => e))).toBe('conflict');
    expect(errorKind(await lifecycle.transition('c1', { type: 'unpause' }).catch((e: unknown) => e))).toBe(
      'conflict',
    );
    expect(store.get('c1').State.Status).toBe('running');
    expect(events.map((e) => e.action)).toEqual(['create', 'start']);
  });

  it('has a rule for every status it names, and none lets a paused container start', () => {
    const statuses: ContainerStatus[] = [
      'created',
      'running',
      'paused',
      'restarting',
      'removing',
      'exited',
      'dead',
    ];
    for (const from of Object.values(ALLOWED_FROM)) for (const s of from) expect(statuses).toContain(s);
    expect(ALLOWED_FROM.start).not.toContain('paused');
    expect(ALLOWED_FROM.start).not.toContain('removing');
  });

  it('decides a restart on the record as the exit leaves it (a stop queued before it is seen)', async () => {
    await lifecycle.transition('c1', start);
    const stopped = store.update('c1', (r) => {
      r.StoppedByUser = true;
    });
    const exited = await lifecycle.transition('c1', {
      type: 'exit',
      exitCode: 1,
      oomKilled: false,
      restartIf: (r) => !r.StoppedByUser,
    });
    await stopped;
    expect(exited.State).toMatchObject({ Status: 'exited', Restarting: false });
  });

  it('counts starts by policy, and resets the count on a user start', async () => {
    await lifecycle.transition('c1', { ...start, byPolicy: true });
    await lifecycle.transition('c1', { type: 'exit', exitCode: 1, oomKilled: false, restartIf: () => true });
    expect(store.get('c1').State.Status).toBe('restarting');
    await lifecycle.transition('c1', { type: 'restart-pending' });
    await lifecycle.transition('c1', { ...start, byPolicy: true });
    expect(store.get('c1').RestartCount).toBe(2);
    await lifecycle.transition('c1', { type: 'exit', exitCode: 0, oomKilled: false });
    await lifecycle.transition('c1', start);
    expect(store.get('c1').RestartCount).toBe(0);
  });

  it('a start failure keeps a never-started container `created`, and says so with `die`', async () => {
    await lifecycle.transition('c1', { type: 'start-failed', exitCode: 127, error: 'no such file' });
    expect(store.get('c1').State).toMatchObject({ Status: 'created', ExitCode: 127, Error: 'no such file' });
    expect(events.at(-1)).toEqual({ action: 'die', status: 'created' });
  });
});

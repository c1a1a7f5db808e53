import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContainerRecordSchema, ContainerStore, emptyState } from './container-store.js';

const ID = 'a'.repeat(64);

function record() {
  return ContainerRecordSchema.parse({
    Id: ID,
    Name: '/racer',
    Created: new Date(0).toISOString(),
    Path: 'sleep',
    Args: ['300'],
    Config: {},
    HostConfig: {},
    Image: `sha256:${'b'.repeat(64)}`,
    State: { ...emptyState(), Status: 'running', Running: true },
    Driver: 'overlay2',
    LogPath: '/dev/null',
    HostnamePath: '/dev/null',
    HostsPath: '/dev/null',
    ResolvConfPath: '/dev/null',
  });
}

describe('ContainerStore.update', () => {
  let root: string;
  let store: ContainerStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'container-store-'));
    store = new ContainerStore(root);
    await store.load();
    await store.save(record());
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('applies interleaved updates one after the other, so neither undoes the other', async () => {
    // The shape of a container exit racing a health check: both change different fields.
    const exit = store.update(ID, (r) => {
      r.State = { ...r.State, Status: 'exited', Running: false, ExitCode: 137 };
    });
    const health = store.update(ID, (r) => {
      r.State.Health = { Status: 'unhealthy', FailingStreak: 1, Log: [] };
    });
    await Promise.all([exit, health]);
    const expected = { Running: false, ExitCode: 137, Health: { Status: 'unhealthy' } };
    expect(store.get(ID).State).toMatchObject(expected);
    const onDisk = JSON.parse(await readFile(join(root, ID, 'config.json'), 'utf8'));
    expect(onDisk.State).toMatchObject(expected);
  });

  it('runs an update after one that failed', async () => {
    const failing = store.update(ID, () => {
      throw new Error('refused');
    });
    const next = store.update(ID, (r) => {
      r.RestartCount = 5;
    });
    await expect(failing).rejects.toThrow('refused');
    expect((await next).RestartCount).toBe(5);
  });
});

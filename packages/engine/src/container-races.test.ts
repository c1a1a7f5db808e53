import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerRuntime } from '@ts-container/runtime';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ContainerRecord, ContainerStore, emptyState } from './container-store.js';
import { ContainerService } from './containers.js';
import { ExecService } from './exec.js';
import type { ContainerNetworking } from './networking.js';

/**
 * Races of the container service, run against fakes of the runtime, snapshotter and
 * networking (no root, no containers): what a real OCI runtime does is stood in for by
 * promises the test resolves.
 */
const silent = { debug() {}, info() {}, warn() {}, error() {} };

class FakeRuntime {
  readonly calls: string[] = [];
  private readonly exits = new Map<string, (code: number) => void>();
  private readonly done = new Map<string, Promise<number>>();
  /** Holds `start` until the test lets it go (a slow OCI runtime). */
  startGate: Promise<void> = Promise.resolve();
  onKill: (id: string, signal: string) => void = () => {};

  async create(id: string) {
    this.calls.push(`create ${id}`);
    this.done.set(id, new Promise((resolve) => this.exits.set(id, resolve)));
    return { pid: 1000, monitorPid: 999 };
  }
  async start(id: string) {
    await this.startGate;
    this.calls.push(`start ${id}`);
  }
  async kill(id: string, signal: string) {
    this.calls.push(`kill ${id} ${signal}`);
    this.onKill(id, signal);
    // The container's init dies of SIGTERM and SIGKILL.
    if (signal === 'SIGKILL' || signal === 'SIGTERM') this.exits.get(id)?.(signal === 'SIGKILL' ? 137 : 143);
  }
  async wait(id: string) {
    return { exitCode: await this.done.get(id)!, oomKilled: false };
  }
  async delete(id: string) {
    this.calls.push(`delete ${id}`);
  }
  async state() {
    return undefined;
  }
  async exitStatus() {
    return undefined;
  }
  async update() {}
  async pause() {}
  async resume() {}
  async reopenLog() {}
  runtimeNamed() {
    return { info: { name: 'fake' } };
  }
}

const networking: ContainerNetworking = {
  async setup() {
    return { namespace: {} as never, settings: {}, resolvConf: '', hosts: '' };
  },
  async teardown() {},
};

describe('container races (fakes)', () => {
  let dir: string;
  let store: ContainerStore;
  let runtime: FakeRuntime;
  let containers: ContainerService;

  async function add(id: string, over: Partial<ContainerRecord> = {}): Promise<void> {
    const d = join(dir, id);
    await mkdir(join(d, 'rootfs', 'etc'), { recursive: true });
    await store.save({
      Id: id,
      Name: `/${id}`,
      Created: new Date().toISOString(),
      Path: 'sleep',
      Args: ['60'],
      Config: { User: '0' },
      HostConfig: {},
      Image: 'sha256:x',
      State: emptyState(),
      RestartCount: 0,
      StoppedByUser: false,
      Driver: 'copy',
      LogPath: join(d, `${id}-json.log`),
      HostnamePath: join(d, 'hostname'),
      HostsPath: join(d, 'hosts'),
      ResolvConfPath: join(d, 'resolv.conf'),
      NetworkSettings: {},
      MountPoints: [],
      ...over,
    });
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'races-'));
    store = new ContainerStore(dir);
    await store.load();
    runtime = new FakeRuntime();
    containers = new ContainerService({
      store,
      images: {} as never,
      snapshotter: { mounts: async () => [], has: () => false, driver: { name: 'copy' } } as never,
      runtime: runtime as unknown as ContainerRuntime,
      cgroupParent: '/tsctr-test',
      networking,
      logger: silent,
      volumes: {} as never,
    });
  });
  afterEach(async () => {
    for (const c of store.all()) containers.restarts.cancel(c.Id);
    await rm(dir, { recursive: true, force: true });
  });

  it('starts and stops a container through the lifecycle, with start and die events', async () => {
    await add('c1');
    const actions: string[] = [];
    containers.events.on('event', (e: { Action: string }) => actions.push(e.Action));
    await containers.start('c1');
    expect(store.get('c1').State).toMatchObject({ Status: 'running', Pid: 1000 });
    await containers.stop('c1', { timeout: 1 });
    expect(store.get('c1').State).toMatchObject({ Status: 'exited', ExitCode: 143 });
    expect(actions).toEqual(['start', 'die']);
  });

  it('emits pause and unpause, as Docker does', async () => {
    await add('c1');
    await containers.start('c1');
    const actions: string[] = [];
    containers.events.on('event', (e: { Action: string }) => actions.push(e.Action));
    await containers.pause('c1');
    expect(store.get('c1').State.Status).toBe('paused');
    await expect(containers.pause('c1')).rejects.toThrow(/already paused/);
    await containers.unpause('c1');
    expect(actions).toEqual(['pause', 'unpause']);
    await containers.kill('c1');
  });

  it('stop during a start by restart policy: the start finishes, then the stop stops what it started', async () => {
    await add('c1', { HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 0 } } });
    await containers.start('c1');
    let open!: () => void;
    runtime.startGate = new Promise((r) => {
      open = r;
    });
    // The process dies; its policy restarts it after 100 ms, and that start hangs in the runtime.
    await runtime.kill('c1', 'SIGKILL');
    await until(() => containers.restarts.starting('c1') !== undefined);
    const stopping = containers.stop('c1', { timeout: 1 });
    await new Promise((r) => setTimeout(r, 20));
    expect(store.get('c1').State.Running).toBe(false); // the stop is waiting for the start
    open();
    await stopping;
    const c = store.get('c1');
    expect(c.State).toMatchObject({ Status: 'exited', Running: false, Restarting: false });
    expect(c.StoppedByUser).toBe(true);
    expect(c.RestartCount).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(store.get('c1').State.Status).toBe('exited'); // and no restart after the stop
  });

  it('remove during a pending restart: refused without force; with force the restart never happens', async () => {
    await add('c1', { HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 0 } } });
    await containers.start('c1');
    await runtime.kill('c1', 'SIGKILL');
    await until(() => containers.restarts.pending('c1'));
    expect(store.get('c1').State.Status).toBe('restarting');
    await expect(containers.remove('c1')).rejects.toThrow(/container is restarting/);
    await containers.remove('c1', { force: true });
    expect(store.find('c1')).toBeUndefined();
    expect(containers.restarts.pending('c1')).toBe(false);
    const creates = runtime.calls.filter((c) => c === 'create c1').length;
    await new Promise((r) => setTimeout(r, 300));
    expect(runtime.calls.filter((c) => c === 'create c1').length).toBe(creates);
  });

  it('releaseAfterExit (a build step): wait answers before the network goes; remove waits for it', async () => {
    let letGo!: () => void;
    const teardownGate = new Promise<void>((r) => {
      letGo = r;
    });
    const tornDown: string[] = [];
    const slowNetworking: ContainerNetworking = {
      ...networking,
      async teardown(c) {
        await teardownGate;
        tornDown.push(c.Id);
      },
    };
    const image = {
      record: { id: 'sha256:img' },
      config: { config: { Cmd: ['true'] }, rootfs: { diff_ids: [] } },
    };
    const service = new ContainerService({
      store,
      images: {
        get: async () => image,
        markUsed: async () => {},
        ensureLayers: async () => {},
        topLayer: () => undefined,
      } as never,
      snapshotter: {
        prepare: async () => [],
        mounts: async () => [],
        has: () => false,
        driver: { name: 'copy' },
      } as never,
      runtime: runtime as unknown as ContainerRuntime,
      cgroupParent: '/tsctr-test',
      networking: slowNetworking,
      logger: silent,
      volumes: {} as never,
    });
    const { Id: id } = await service.create({ Image: 'sha256:img' }, undefined, { releaseAfterExit: true });
    await mkdir(join(dir, id, 'rootfs', 'etc'), { recursive: true });
    await service.start(id);
    const exited = service.wait(id, 'next-exit');
    await runtime.kill(id, 'SIGKILL');
    expect(await exited).toEqual({ StatusCode: 137, Error: null });
    expect(tornDown).toEqual([]); // its network is still going
    const removed = service.remove(id, { force: true });
    await new Promise((r) => setTimeout(r, 20));
    expect(store.find(id)).toBeDefined(); // the removal waits for it
    letGo();
    await removed;
    expect(tornDown).toEqual([id]);
    expect(store.find(id)).toBeUndefined();
  });

  it('kill during exec: the kill answers once the container exited, the exec ends with 137', async () => {
    await add('c1');
    await containers.start('c1');
    const pidFile = join(dir, 'exec.pid');
    const exec = new ExecService({
      containers,
      runtime: {
        execCommand: async () => ({
          file: 'sh',
          args: ['-c', `echo $$ > ${pidFile}; exec sleep 30`],
          pidFile,
          logFile: join(dir, 'exec.log'),
          remove: async () => {},
        }),
      },
      logger: silent,
    });
    const session = exec.create('c1', { Cmd: ['sleep', '30'] });
    const running = exec.start(session, {});
    await until(() => exec.get(session).Pid > 0);
    // The container's PID namespace ends with its init: the exec's process goes with it.
    runtime.onKill = (_id, signal) => {
      if (signal === 'SIGKILL') process.kill(exec.get(session).Pid, 'SIGKILL');
    };
    await containers.kill('c1', 'KILL');
    expect(store.get('c1').State).toMatchObject({ Status: 'exited', Running: false, ExitCode: 137 });
    expect(await running).toBe(137);
    expect(exec.get(session)).toMatchObject({ Running: false, ExitCode: 137 });
    expect(() => exec.create('c1', { Cmd: ['true'] })).toThrow(/is not running/);
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

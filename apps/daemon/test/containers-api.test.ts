import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError } from '@ts-container/api';
import { e2eSkip, useDaemon, useTempDir } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('container API end-to-end tests');

interface Inspect {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; ExitCode: number; Health?: { Status: string } };
  HostConfig: {
    LogConfig: { Type: string; Config: Record<string, string> };
    Runtime: string;
    Links?: string[];
  };
  Config: { Healthcheck?: { Test: string[] } };
}

/** Container create/lifecycle/archive/commit as docker-py and the docker CLI drive them. */
describe.skipIf(skip !== undefined)('containers through the Engine API, as Docker answers', () => {
  const hostDir = useTempDir('tsctr-ctr-api-');
  const daemon = useDaemon();

  const api = <T = unknown>(method: string, path: string, body?: unknown, query?: Record<string, string>) =>
    daemon.client.request<T>(method, path, {
      ...(body !== undefined ? { body } : {}),
      ...(query ? { query } : {}),
    });
  const create = async (body: Record<string, unknown>, name?: string) =>
    (await api<{ Id: string }>('POST', '/containers/create', body, name ? { name } : undefined)).Id;
  const inspect = (id: string) => api<Inspect>('GET', `/containers/${id}/json`);
  const logs = async (id: string) => (await daemon.docker(['logs', id])).stdout;
  const failure = async (p: Promise<unknown>): Promise<ApiError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  };

  it('answers a kill with SIGKILL once the container has exited: inspect says exited, remove works', async () => {
    for (const signal of [undefined, 'SIGKILL', '9', 'KILL']) {
      const id = await create({ Image: 'busybox', Cmd: ['sleep', '9999'] });
      await api('POST', `/containers/${id}/start`);
      await api('POST', `/containers/${id}/kill`, undefined, signal ? { signal } : undefined);
      const state = (await inspect(id)).State;
      expect(state.Running).toBe(false);
      expect(state.Status).toBe('exited');
      expect(state.ExitCode).toBe(137);
      await api('DELETE', `/containers/${id}`);
    }
  });

  it('reads JSON null as unset in a create body, and shows a health check starting right after start', async () => {
    const id = await create({
      Image: 'busybox',
      Cmd: ['sleep', '60'],
      Hostname: null,
      User: null,
      WorkingDir: null,
      StopSignal: null,
      NoSuchField: { ignored: true },
      Healthcheck: {
        Test: ['CMD-SHELL', 'true'],
        Interval: null,
        Timeout: null,
        Retries: null,
        StartPeriod: null,
      },
      HostConfig: { RestartPolicy: null, LogConfig: null, Runtime: null, Memory: null, ShmSize: null },
    });
    const before = await inspect(id);
    expect(before.Config.Healthcheck?.Test).toEqual(['CMD-SHELL', 'true']);
    expect(before.HostConfig.LogConfig).toEqual({ Type: 'json-file', Config: {} });
    await api('POST', `/containers/${id}/start`);
    expect((await inspect(id)).State.Health?.Status).toBe('starting');
    await api('DELETE', `/containers/${id}`, undefined, { force: '1' });
  });

  it('refuses an unknown log driver with Docker’s message and defaults an empty one to json-file', async () => {
    const err = await failure(
      create({ Image: 'busybox', HostConfig: { LogConfig: { Type: 'asdf', Config: {} } } }),
    );
    expect(err.statusCode).toBe(400);
    expect(err.message).toBe("logger: no log driver named 'asdf' is registered");
    const id = await create({
      Image: 'busybox',
      HostConfig: { LogConfig: { Type: '', Config: { 'max-file': '100' } } },
    });
    expect((await inspect(id)).HostConfig.LogConfig).toEqual({
      Type: 'json-file',
      Config: { 'max-file': '100' },
    });
  });

  it('records the runtime a container runs with: the requested one (also beside HostConfig, as docker-py sends it) or the default', async () => {
    const info = await api<{ DefaultRuntime: string; Runtimes: Record<string, unknown> }>('GET', '/info');
    const byDefault = await create({ Image: 'busybox' });
    expect((await inspect(byDefault)).HostConfig.Runtime).toBe(info.DefaultRuntime);
    for (const name of Object.keys(info.Runtimes)) {
      const inHostConfig = await create({ Image: 'busybox', HostConfig: { Runtime: name } });
      expect((await inspect(inHostConfig)).HostConfig.Runtime).toBe(name);
      const topLevel = await create({ Image: 'busybox', Runtime: name });
      expect((await inspect(topLevel)).HostConfig.Runtime).toBe(name);
    }
  });

  it('gives the process the user’s groups from /etc/group and GroupAdd (numbers or names)', async () => {
    const id = await create({
      Image: 'busybox',
      Cmd: ['id', '-G'],
      HostConfig: { GroupAdd: [1000, '1001', 'nogroup'] },
    });
    await api('POST', `/containers/${id}/start`);
    await api('POST', `/containers/${id}/wait`);
    const groups = (await logs(id)).trim().split(' ');
    expect(groups).toEqual(expect.arrayContaining(['0', '1000', '1001', '65534']));
    const bad = await create({
      Image: 'busybox',
      Cmd: ['true'],
      HostConfig: { GroupAdd: ['no-such-group'] },
    });
    const err = await failure(api('POST', `/containers/${bad}/start`));
    expect(err.message).toContain('Unable to find group no-such-group');
  });

  it('sets Docker’s link variables for --link and removes a link with DELETE ?link=1', async () => {
    const target = await create(
      {
        Image: 'busybox',
        Cmd: ['sleep', '60'],
        Env: ['FOO=1'],
        ExposedPorts: { '80/tcp': {}, '53/udp': {} },
      },
      'linked-target',
    );
    await api('POST', `/containers/${target}/start`);
    const ip = ((await inspect(target)) as unknown as { NetworkSettings: { IPAddress: string } })
      .NetworkSettings.IPAddress;
    const parent = await create(
      { Image: 'busybox', Cmd: ['env'], HostConfig: { Links: ['linked-target:my-link'] } },
      'link-parent',
    );
    await api('POST', `/containers/${parent}/start`);
    await api('POST', `/containers/${parent}/wait`);
    const env = (await logs(parent)).split('\n');
    expect(env).toEqual(
      expect.arrayContaining([
        'MY_LINK_NAME=/link-parent/my-link',
        'MY_LINK_ENV_FOO=1',
        `MY_LINK_PORT=udp://${ip}:53`,
        `MY_LINK_PORT_80_TCP=tcp://${ip}:80`,
        `MY_LINK_PORT_80_TCP_ADDR=${ip}`,
        'MY_LINK_PORT_80_TCP_PORT=80',
        'MY_LINK_PORT_80_TCP_PROTO=tcp',
      ]),
    );
    expect(env.some((e) => e.startsWith('MY_LINK_ENV_PATH='))).toBe(false);
    await api('DELETE', '/containers/link-parent/my-link', undefined, { link: '1' });
    expect((await inspect(parent)).HostConfig.Links).toEqual([]);
    // Both containers stay.
    expect((await inspect(target)).State.Running).toBe(true);
    const gone = await failure(api('DELETE', '/containers/link-parent/my-link', undefined, { link: '1' }));
    expect(gone.statusCode).toBe(404);
    await api('DELETE', `/containers/${target}`, undefined, { force: '1' });
  });

  it('refuses to remove a container that is between restarts by policy, with Docker’s advice', async () => {
    const id = await create({
      Image: 'busybox',
      Cmd: ['sleep', '1'],
      HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 0 }, NetworkMode: 'none' },
    });
    await api('POST', `/containers/${id}/start`);
    await api('POST', `/containers/${id}/wait`);
    const err = await failure(api('DELETE', `/containers/${id}`));
    expect(err.statusCode).toBe(409);
    expect(err.message.toLowerCase()).toContain('stop the container before');
    await api('DELETE', `/containers/${id}`, undefined, { force: '1' });
  });

  it('commits a container that is exiting or has exited (pause=true is only for running ones)', async () => {
    for (let i = 0; i < 3; i++) {
      const id = await create({ Image: 'busybox', Cmd: ['touch', '/test'] });
      await api('POST', `/containers/${id}/start`);
      const { Id } = await api<{ Id: string }>('POST', '/commit', {}, { container: id, pause: '1' });
      expect(Id).toMatch(/^sha256:/);
      await api('POST', `/containers/${id}/wait`);
      const again = await api<{ Id: string }>('POST', '/commit', {}, { container: id, pause: '1' });
      expect(again.Id).toMatch(/^sha256:/);
    }
  });

  it('copies into and out of volumes and binds (docker cp), running or not', async () => {
    await writeFile(join(hostDir, 'bound.txt'), 'from the host\n');
    const id = await create({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'echo data > /vol1/data.txt; cat /vol1/in.txt /bind/bound.txt; sleep 60'],
      Volumes: { '/vol1': {} },
      HostConfig: { Binds: [`${hostDir}:/bind`] },
    });
    // Before the first start: into the new (anonymous) volume.
    await writeFile(join(hostDir, 'in.txt'), 'copied in\n');
    expect((await daemon.docker(['cp', join(hostDir, 'in.txt'), `${id}:/vol1/`])).exitCode).toBe(0);
    await api('POST', `/containers/${id}/start`);
    for (let i = 0; i < 50 && !(await logs(id)).includes('from the host'); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect((await logs(id)).split('\n')).toEqual(['copied in', 'from the host']);
    const out = join(hostDir, 'out');
    for (const state of ['running', 'stopped']) {
      await rm(out, { recursive: true, force: true });
      const r = await daemon.docker(['cp', `${id}:/vol1/data.txt`, out]);
      expect(r.stderr).toBe('');
      expect(await readFile(out, 'utf8')).toBe('data\n');
      // The mount point itself: a directory named after it, holding the volume's files.
      const dirCopy = join(hostDir, `vol-${state}`);
      expect((await daemon.docker(['cp', `${id}:/vol1`, dirCopy])).stderr).toBe('');
      expect(await readFile(join(dirCopy, 'data.txt'), 'utf8')).toBe('data\n');
      const stat = await daemon.client.stream('HEAD', `/containers/${id}/archive`, {
        query: { path: '/bind/bound.txt' },
      });
      const header = JSON.parse(
        Buffer.from(String(stat.headers['x-docker-container-path-stat']), 'base64').toString(),
      ) as { name: string; size: number };
      expect(header).toMatchObject({ name: 'bound.txt', size: 'from the host\n'.length });
      expect(
        (await daemon.docker(['cp', join(hostDir, 'in.txt'), `${id}:/bind/${state}.txt`])).exitCode,
      ).toBe(0);
      expect(await readFile(join(hostDir, `${state}.txt`), 'utf8')).toBe('copied in\n');
      if (state === 'running') await api('POST', `/containers/${id}/kill`);
    }
  });

  it('binds a single file with -v (tsctr and docker run)', async () => {
    const conf = join(hostDir, 'app.conf');
    await writeFile(conf, 'setting=1\n');
    for (const cli of ['docker', 'tsctr'] as const) {
      const r = await daemon[cli]([
        'run',
        '--rm',
        '-v',
        `${conf}:/etc/app.conf:ro`,
        'busybox',
        'cat',
        '/etc/app.conf',
      ]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('setting=1');
    }
  });

  it('lists the last created containers in any state with ps -l and ps -n (docker and tsctr)', async () => {
    const names = ['ps-first', 'ps-second', 'ps-third'];
    for (const name of names) {
      await create({ Image: 'busybox', Cmd: ['true'] }, name);
      await new Promise((r) => setTimeout(r, 5));
    }
    await daemon.docker(['start', 'ps-second']);
    await api('POST', '/containers/ps-second/wait');
    for (const cli of ['docker', 'tsctr'] as const) {
      const latest = await daemon[cli](['ps', '-l', '--format', '{{.Names}}']);
      expect(latest.stdout).toBe('ps-third');
      const two = await daemon[cli](['ps', '-n', '2', '--format', '{{.Names}} {{.State}}']);
      expect(two.stdout.split('\n')).toEqual(['ps-third created', 'ps-second exited']);
    }
  });
});

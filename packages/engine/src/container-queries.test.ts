import type { ContainerSummary } from '@ts-container/api';
import { describe, expect, it } from 'vitest';
import { ContainerQueries, matchesContainerFilters, parseTimestamp } from './container-queries.js';
import { type ContainerRecord, ContainerRecordSchema, emptyState } from './container-store.js';

/** A record as the store would load it (the schema fills the defaults). */
function record(name: string, over: Record<string, unknown> & { created: string }): ContainerRecord {
  const { created, ...rest } = over;
  return ContainerRecordSchema.parse({
    Id: `${name}`.padEnd(64, '0'),
    Name: `/${name}`,
    Created: created,
    Path: 'sh',
    Args: [],
    Config: { Image: 'alpine' },
    HostConfig: {},
    Image: 'sha256:aaaa',
    State: emptyState(),
    Driver: 'overlay',
    LogPath: '',
    HostnamePath: '',
    HostsPath: '',
    ResolvConfPath: '',
    ...rest,
  });
}

const running = { ...emptyState(), Status: 'running', Running: true };
const exited = (code: number) => ({ ...emptyState(), Status: 'exited', ExitCode: code });

/** A catalog over an array, as the container service offers it. */
function queries(list: ContainerRecord[]) {
  const removed: string[] = [];
  const q = new ContainerQueries({
    containers: {
      all: () => list.filter((c) => !removed.includes(c.Id)),
      get: (ref) => {
        const c = list.find((r) => r.Id.startsWith(ref) || r.Name === `/${ref}`);
        if (!c) throw new Error(`No such container: ${ref}`);
        return c;
      },
      summary: (c, imageName) =>
        ({ Id: c.Id, Names: [c.Name], Image: imageName(c.Image) }) as ContainerSummary,
      remove: async (id) => {
        removed.push(id);
      },
    },
    imageTags: (id) => (id === 'sha256:aaaa' ? ['docker.io/library/alpine:latest'] : []),
    sizeOf: async () => ({ SizeRw: 10, SizeRootFs: 100 }),
    runtimeName: () => 'runc',
    networkSettings: (c) => c.NetworkSettings,
  });
  return { q, removed };
}

const web = record('web', {
  created: '2024-01-01T00:00:01Z',
  State: running,
  Config: { Image: 'nginx', Labels: { tier: 'front', env: 'prod' }, ExposedPorts: { '80/tcp': {} } },
  HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '8080' }] } },
  NetworkSettings: { Networks: { bridge: { NetworkID: 'abc123' } } },
});
const job = record('job', { created: '2024-01-01T00:00:02Z', State: exited(3), Config: { Image: 'alpine' } });
const db = record('db', {
  created: '2024-01-01T00:00:03Z',
  State: exited(0),
  Config: { Labels: { tier: 'back' } },
});

describe('docker ps filters', () => {
  const f = (entries: Record<string, string[]>) => new Map(Object.entries(entries));

  it('matches by id prefix, name regexp, status and exit code', () => {
    expect(matchesContainerFilters(web, f({ id: ['web'] }))).toBe(true);
    expect(matchesContainerFilters(web, f({ name: ['^w.b$'] }))).toBe(true);
    expect(matchesContainerFilters(job, f({ status: ['exited'] }))).toBe(true);
    expect(matchesContainerFilters(job, f({ exited: ['3'] }))).toBe(true);
    expect(matchesContainerFilters(db, f({ exited: ['3'] }))).toBe(false);
  });

  it('ANDs label values and ORs the values of other keys', () => {
    expect(matchesContainerFilters(web, f({ label: ['tier=front', 'env'] }))).toBe(true);
    expect(matchesContainerFilters(web, f({ label: ['tier=front', 'env=dev'] }))).toBe(false);
    expect(matchesContainerFilters(web, f({ status: ['exited', 'running'] }))).toBe(true);
  });

  it('matches ancestor, network, publish, expose, health and is-task', () => {
    expect(matchesContainerFilters(web, f({ ancestor: ['nginx'] }))).toBe(true);
    expect(matchesContainerFilters(job, f({ ancestor: ['aaaa'] }))).toBe(true);
    expect(matchesContainerFilters(web, f({ network: ['bridge'] }))).toBe(true);
    expect(matchesContainerFilters(web, f({ network: ['abc'] }))).toBe(true);
    expect(matchesContainerFilters(web, f({ publish: ['8080'] }))).toBe(true);
    expect(matchesContainerFilters(web, f({ expose: ['80'] }))).toBe(true);
    expect(matchesContainerFilters(web, f({ expose: ['80/udp'] }))).toBe(false);
    expect(matchesContainerFilters(web, f({ health: ['none'] }))).toBe(true);
    expect(matchesContainerFilters(web, f({ 'is-task': ['false'] }))).toBe(true);
  });

  it('refuses an unknown filter as an invalid parameter', () => {
    expect(() => matchesContainerFilters(web, f({ colour: ['red'] }))).toThrow(
      expect.objectContaining({ kind: 'invalid-parameter', message: "invalid filter 'colour'" }),
    );
  });
});

describe('ContainerQueries', () => {
  it('lists running containers newest first, all with -a, the N newest with a limit', async () => {
    const { q } = queries([web, job, db]);
    expect((await q.list()).map((s) => s.Names[0])).toEqual(['/web']);
    expect((await q.list({ all: true })).map((s) => s.Names[0])).toEqual(['/db', '/job', '/web']);
    expect((await q.list({ limit: 2 })).map((s) => s.Names[0])).toEqual(['/db', '/job']);
  });

  it('lists by status without -a, and before/since name a container', async () => {
    const { q } = queries([web, job, db]);
    const names = async (filters: Record<string, string[]>, all = false) =>
      (await q.list({ all, filters: new Map(Object.entries(filters)) })).map((s) => s.Names[0]);
    expect(await names({ status: ['exited'] })).toEqual(['/db', '/job']);
    expect(await names({ before: ['db'] }, true)).toEqual(['/job', '/web']);
    expect(await names({ since: ['web'] }, true)).toEqual(['/db', '/job']);
  });

  it('adds sizes only when asked, and names images by their first tag', async () => {
    const { q } = queries([job]);
    const [plain] = await q.list({ all: true });
    expect(plain).not.toHaveProperty('SizeRw');
    expect(plain?.Image).toBe('alpine:latest');
    const [sized] = await q.list({ all: true, size: true });
    expect(sized).toMatchObject({ SizeRw: 10, SizeRootFs: 100 });
  });

  it('inspect fills unset HostConfig fields with Docker defaults and hides engine-only fields', async () => {
    const { q } = queries([web]);
    const inspected = await q.inspect('web');
    expect(inspected.HostConfig).toMatchObject({
      Runtime: 'runc',
      ShmSize: 67108864,
      NetworkMode: 'default',
    });
    expect(inspected).not.toHaveProperty('StoppedByUser');
    expect(inspected.State).not.toHaveProperty('MonitorPid');
    expect(inspected.ImageName).toBe('alpine:latest');
    expect(inspected.NetworkSettings).toMatchObject({ IPAddress: '', Networks: { bridge: {} } });
  });

  it('prune removes stopped containers by label and until, and reports the space', async () => {
    const { q, removed } = queries([web, job, db]);
    const result = await q.prune(new Map([['label!', ['tier=back']]]));
    expect(result).toEqual({ ContainersDeleted: [job.Id], SpaceReclaimed: 10 });
    expect(removed).toEqual([job.Id]);
    expect(await q.prune(new Map([['until', ['2024-01-01T00:00:00Z']]]))).toEqual({
      ContainersDeleted: null,
      SpaceReclaimed: 0,
    });
    await expect(q.prune(new Map([['status', ['exited']]]))).rejects.toThrow("invalid filter 'status'");
  });
});

describe('parseTimestamp', () => {
  it('reads Unix seconds and dates; empty and 0 are unset', () => {
    expect(parseTimestamp('1700000000.5')).toBe(1700000000.5);
    expect(parseTimestamp('2024-01-01T00:00:00Z')).toBe(1704067200);
    expect(parseTimestamp('0')).toBeUndefined();
    expect(parseTimestamp(null)).toBeUndefined();
    expect(() => parseTimestamp('yesterday')).toThrow('invalid time value: yesterday');
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiResponseError } from './errors.js';
import { ApiClient } from './typed-client.js';

/** A daemon stand-in on a unix socket: each path answers the JSON given for it. */
let answers: Record<string, unknown> = {};
let lastUrl = '';
let server: Server;
let dir: string;
let client: ApiClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'api-typed-'));
  server = createServer((req, res) => {
    lastUrl = req.url ?? '';
    const path = lastUrl.replace(/^\/v[\d.]+/, '').split('?')[0]!;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(answers[path] ?? null));
  });
  const socket = join(dir, 'd.sock');
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  client = new ApiClient(socket);
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const summary = {
  Id: 'abc',
  Names: ['/web'],
  Image: 'nginx',
  ImageID: 'sha256:1',
  Command: 'nginx',
  Created: 1,
  Ports: [],
  Labels: {},
  State: 'running',
  Status: 'Up 1 second',
};

describe('ApiClient: responses checked by the API schemas', () => {
  it('passes unknown fields through (Docker adds fields in every version)', async () => {
    answers = { '/containers/json': [{ ...summary, FutureField: { x: 1 } }] };
    const list = await client.containerList({ all: true, filters: { status: ['running'] } });
    expect(list[0]).toMatchObject({ Id: 'abc', FutureField: { x: 1 } });
    expect(decodeURIComponent(lastUrl)).toContain('filters={"status":["running"]}');
    expect(lastUrl).toContain('all=1');
  });

  it('names the endpoint when an answer does not match', async () => {
    answers = { '/containers/json': [{ ...summary, Created: 'yesterday' }] };
    const err = await client.containerList().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiResponseError);
    expect((err as ApiResponseError).endpoint).toBe('GET /containers/json');
    expect((err as ApiResponseError).message).toBe(
      'unexpected response from GET /containers/json: 0.Created: Expected number, received string',
    );
  });

  it('checks version, history and prune answers', async () => {
    answers = {
      '/version': { Version: '0.1.0', ApiVersion: '1.45', Os: 'linux', Arch: 'amd64', Components: [] },
      '/images/alpine/history': [
        { Id: '<missing>', Created: 1, CreatedBy: 'sh', Tags: null, Size: 0, Comment: '' },
      ],
      '/containers/prune': { ContainersDeleted: null, SpaceReclaimed: 0 },
    };
    expect((await client.serverVersion()).ApiVersion).toBe('1.45');
    expect(await client.imageHistory('alpine')).toHaveLength(1);
    expect(await client.containerPrune()).toEqual({ ContainersDeleted: null, SpaceReclaimed: 0 });
    answers = { '/version': { Version: 1 } };
    await expect(client.serverVersion()).rejects.toThrow('unexpected response from GET /version');
  });

  it('returns the answer as sent, key order included, so printed JSON matches Docker', async () => {
    const inspect = {
      Id: 'abc',
      Created: '2024-01-01T00:00:00Z',
      Path: 'sh',
      State: { Status: 'running', Running: true, Paused: false, Pid: 7 },
      Image: 'sha256:1',
      Name: '/web',
      HostConfig: { NetworkMode: 'default' },
      Config: { Hostname: 'abc', Tty: false },
    };
    answers = { '/containers/web/json': inspect };
    const got = await client.containerInspect('web');
    expect(JSON.stringify(got)).toBe(JSON.stringify(inspect));
  });

  it('accepts the nulls Docker sends for empty lists and maps', async () => {
    answers = {
      '/containers/json': [{ ...summary, Ports: null, Labels: null, NetworkSettings: { Networks: null } }],
      '/images/json': [
        {
          Id: 'sha256:1',
          ParentId: '',
          RepoTags: null,
          RepoDigests: null,
          Created: 1,
          Size: 1,
          Labels: null,
          Containers: -1,
        },
      ],
      '/volumes': { Volumes: null, Warnings: null },
      '/containers/abc/changes': null,
      '/containers/abc/top': { Titles: ['PID'], Processes: null },
      '/networks': [
        { Name: 'none', Id: 'n', Driver: 'null', Scope: 'local', Labels: null, Containers: null },
      ],
    };
    expect((await client.containerList())[0]?.Ports).toBeNull();
    expect((await client.imageList())[0]?.RepoTags).toBeNull();
    expect((await client.volumeList()).Volumes).toBeNull();
    expect(await client.containerChanges('abc')).toBeNull();
    expect((await client.containerTop('abc')).Processes).toBeNull();
    expect(await client.networkList()).toHaveLength(1);
  });
});

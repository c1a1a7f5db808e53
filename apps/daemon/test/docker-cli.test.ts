import { stat } from 'node:fs/promises';
import { request } from 'node:http';
import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('tsctrd end-to-end tests');

function rawRequest(
  socketPath: string,
  method: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(skip !== undefined)('tsctrd serves the Docker Engine API to the real docker CLI', () => {
  const daemon = useDaemon();

  it('answers _ping with Docker headers on unversioned and versioned paths', async () => {
    for (const [method, path] of [
      ['GET', '/_ping'],
      ['HEAD', '/_ping'],
      ['GET', '/v1.24/_ping'],
      ['GET', '/v1.44/_ping'],
      ['GET', '/v1.47/_ping'],
    ] as const) {
      const r = await rawRequest(daemon.socketPath, method, path);
      expect(r.status).toBe(200);
      expect(r.headers['api-version']).toBe('1.47');
      expect(r.headers.ostype).toBe('linux');
      expect(r.headers['builder-version']).toBe('1');
      expect(r.headers['docker-experimental']).toBe('false');
      if (method === 'GET') expect(r.body).toBe('OK');
    }
  });

  it('refuses API versions outside 1.24–1.47 with Docker’s message', async () => {
    const r = await rawRequest(daemon.socketPath, 'GET', '/v1.99/version');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toBe(
      'client version 1.99 is too new. Maximum supported API version is 1.47',
    );
  });

  it('keeps the socket for root only', async () => {
    expect((await stat(daemon.socketPath)).mode & 0o777).toBe(0o660);
  });

  it('`docker version` shows our server', async () => {
    const r = await daemon.docker(['version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/Server: ts-container Engine/);
    expect(r.stdout).toMatch(/API version:\s+1\.47 \(minimum version 1\.24\)/);
  });

  it('`docker run --rm busybox echo hi` prints hi and removes the container', async () => {
    const r = await daemon.docker(['run', '--rm', 'busybox', 'echo', 'hi']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hi');
    expect(r.exitCode).toBe(0);
    expect((await daemon.docker(['ps', '-aq'])).stdout).toBe('');
  });

  it('passes the exit code and stderr through', async () => {
    const r = await daemon.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.stdout).toBe('out');
    expect(r.stderr).toBe('err');
    expect(r.exitCode).toBe(3);
  });

  it('lists images and containers, inspects with --format', async () => {
    expect((await daemon.docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout).toBe(
      'busybox:latest',
    );
    const id = (
      await daemon.docker(['run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '60'])
    ).stdout.trim();
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    expect((await daemon.docker(['ps', '--format', '{{.Names}} {{.State}}'])).stdout).toBe('sleeper running');
    expect(
      (await daemon.docker(['inspect', '--format', '{{.State.Running}} {{.Name}}', 'sleeper'])).stdout,
    ).toBe('true /sleeper');
    expect((await daemon.docker(['rm', '-f', 'sleeper'])).exitCode).toBe(0);
  });

  it('DELETE /images/{name}: a name only untags while references remain, an ID across repositories is a 409', async () => {
    expect((await daemon.docker(['tag', 'busybox', 'api/rmi:1'])).exitCode).toBe(0);
    const id = (await daemon.docker(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).stdout;
    const byId = await rawRequest(daemon.socketPath, 'DELETE', `/v1.41/images/${id.slice(7, 19)}`);
    expect(byId.status).toBe(409);
    expect(JSON.parse(byId.body)).toEqual({
      message: `conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
    });
    const byName = await rawRequest(daemon.socketPath, 'DELETE', '/v1.41/images/api/rmi:1?force=1&noprune=1');
    expect(byName.status).toBe(200);
    expect(JSON.parse(byName.body)).toEqual([{ Untagged: 'api/rmi:1' }]);
    const missing = await rawRequest(daemon.socketPath, 'DELETE', '/v1.41/images/api/rmi:1');
    expect(missing.status).toBe(404);
    expect((await daemon.docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout).toBe(
      'busybox:latest',
    );
  });

  it('reports a missing command with exit code 127', async () => {
    const r = await daemon.docker(['run', '--rm', 'busybox', 'nosuchcommand']);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toContain('executable file not found in $PATH');
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, MIN_API_VERSION } from '@ts-container/api';
import type { Engine } from '@ts-container/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer } from './server.js';

/**
 * The wire shape of an error, as Docker sends it: the status, `Content-Type: application/json`
 * and `{"message": "..."}`. Only requests the router and version check answer are made: the
 * engine behind the server is never reached (no root, no daemon).
 */
describe('API server errors on the wire', () => {
  let dir: string;
  let server: Server;
  const socketPath = () => join(dir, 'api.sock');
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  /**
   * An engine that accepts whatever wiring the handlers do when registered (subscribing to
   * events, say) and does nothing: these requests never reach it.
   */
  const inert = (): unknown =>
    new Proxy(() => {}, {
      get: (_target, key) => (key === 'then' ? undefined : key === Symbol.toPrimitive ? () => '' : inert()),
      apply: () => inert(),
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsctrd-server-test-'));
    // Its paths are strings (handlers join them at registration); everything else is inert.
    const options = { dataRoot: dir, execRoot: dir };
    const engine = new Proxy(inert() as object, {
      get: (target, key, receiver) => (key === 'options' ? options : Reflect.get(target, key, receiver)),
    });
    server = createApiServer(engine as Engine, logger);
    await new Promise<void>((resolve) => server.listen(socketPath(), resolve));
  });
  afterAll(async () => {
    if (server) await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const call = (method: string, path: string) =>
    new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
      const req = request({ socketPath: socketPath(), method, path }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }),
        );
      });
      req.on('error', reject);
      req.end();
    });

  const expectError = async (method: string, path: string, status: number, message: string) => {
    const r = await call(method, path);
    expect(r.status, `${method} ${path}`).toBe(status);
    expect(r.type).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({ message });
  };

  it('404 page not found for an unknown path', async () => {
    await expectError('GET', '/no/such/endpoint', 404, 'page not found');
    await expectError('GET', `/v${API_VERSION}/no/such/endpoint`, 404, 'page not found');
  });

  it('405 for a known path under another method', async () => {
    await expectError('PUT', '/_ping', 405, 'method PUT not allowed for /_ping');
  });

  it('400 for a malformed escape in a path parameter', async () => {
    await expectError('GET', '/containers/%zz/json', 400, 'invalid URL escape "%zz"');
  });

  it('400 for a request target that is no URL, and the server keeps answering', async () => {
    // `//:` made `new URL` throw outside any handler: an unhandled rejection ended the daemon.
    await expectError('GET', '//:', 400, 'invalid request target "//:"');
    const ping = await call('GET', '/_ping');
    expect(ping.status).toBe(200);
    expect(ping.body).toBe('OK');
  });

  it('sends the common headers first on every answer, a handler’s own value in place', async () => {
    const raw = (path: string) =>
      new Promise<string[]>((resolve, reject) => {
        const req = request({ socketPath: socketPath(), path }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.rawHeaders.filter((_, i) => i % 2 === 0)));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await raw('/_ping')).toEqual([
      'Api-Version',
      'Ostype',
      'Server',
      'Builder-Version',
      'Docker-Experimental',
      'Tsctr-Features',
      'Cache-Control',
      'Pragma',
      'Content-Type',
      'Content-Length',
      'Date',
      'Connection',
      'Keep-Alive',
    ]);
    expect(await raw('/nowhere')).toEqual([
      'Api-Version',
      'Ostype',
      'Server',
      'Content-Type',
      'Content-Length',
      'Date',
      'Connection',
      'Keep-Alive',
    ]);
  });

  it('400 for an API version out of range, in Docker’s words', async () => {
    await expectError(
      'GET',
      '/v9.99/_ping',
      400,
      `client version 9.99 is too new. Maximum supported API version is ${API_VERSION}`,
    );
    await expectError(
      'GET',
      '/v1.0/_ping',
      400,
      `client version 1.0 is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  });
});

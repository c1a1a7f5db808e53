import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineClient, readAll } from './client.js';
import { ApiError, DaemonUnreachableError } from './errors.js';

/** A real node:http server on a unix socket: what the transport must speak to, as tsctrd does. */
describe('EngineClient over its own HTTP/1.1', () => {
  let dir: string;
  let server: Server;
  let client: EngineClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsctr-http1-'));
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const url = (req.url ?? '').split('?')[0]!;
        if (url.endsWith('/echo')) {
          res.setHeader('Content-Type', 'application/json');
          res.end(
            JSON.stringify({
              method: req.method,
              url: req.url,
              length: body.length,
              chunked: req.headers['transfer-encoding'] === 'chunked',
              host: req.headers.host,
            }),
          );
        } else if (url.endsWith('/chunked')) {
          res.write('a'.repeat(5));
          setTimeout(() => res.end('b'.repeat(100_000)), 10);
        } else if (url.endsWith('/corked')) {
          // A few large chunks and many small ones in one socket write: one read holds them all.
          res.cork();
          for (const c of 'xyz') res.write(c.repeat(20_000));
          for (let i = 0; i < 50; i++) res.write(String(i % 10));
          for (const c of 'xy') res.write(c.repeat(3_000));
          res.uncork();
          res.end();
        } else if (url.endsWith('/missing')) {
          res.statusCode = 404;
          res.setHeader('Content-Type', 'application/json');
          res.end('{"message":"No such container: x"}');
        } else if (url.endsWith('/empty')) {
          res.statusCode = 204;
          res.end();
        } else {
          res.statusCode = 500;
          res.end('unexpected');
        }
      });
    });
    server.on('upgrade', (req, socket, head) => {
      socket.write('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nhello ');
      if (head.length) socket.write(head);
      socket.on('data', (c: Buffer) => socket.write(c.toString().toUpperCase()));
      socket.on('end', () => socket.end());
      expect(req.url).toMatch(/\/attach$/);
    });
    const path = join(dir, 'd.sock');
    await new Promise<void>((resolve) => server.listen(path, resolve));
    client = new EngineClient(path);
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('sends JSON with a length and a stream chunked, and parses the answers', async () => {
    const json = await client.request<{ length: number; chunked: boolean; host: string; url: string }>(
      'POST',
      '/echo',
      { body: { a: 1 }, query: { x: ['1', '2'] } },
    );
    expect(json).toMatchObject({ length: 7, chunked: false, host: 'localhost' });
    expect(json.url).toMatch(/^\/v[\d.]+\/echo\?x=1&x=2$/);
    const streamed = await client.request<{ length: number; chunked: boolean }>('PUT', '/echo', {
      body: Readable.from([Buffer.alloc(70_000, 1), Buffer.alloc(0), Buffer.alloc(30_000, 2)]),
    });
    expect(streamed).toMatchObject({ length: 100_000, chunked: true });
  });

  it('sends a stream of known length unframed, and refuses one that is not that long', async () => {
    const pieces = () => [Buffer.alloc(70_000, 1), Buffer.alloc(30_000, 2)];
    const sized = await client.request<{ length: number; chunked: boolean }>('PUT', '/echo', {
      body: Readable.from(pieces()),
      headers: { 'Content-Length': '100000' },
    });
    expect(sized).toMatchObject({ length: 100_000, chunked: false });
    await expect(
      client.request('PUT', '/echo', {
        body: Readable.from(pieces()),
        headers: { 'Content-Length': '100001' },
      }),
    ).rejects.toThrow('request body ended after 100000 of 100001 bytes');
    await expect(
      client.request('PUT', '/echo', {
        body: Readable.from(pieces()),
        headers: { 'Content-Length': '99999' },
      }),
    ).rejects.toThrow('request body longer than its Content-Length (99999)');
    // The server is still answering.
    expect(await client.request('POST', '/echo', { body: { a: 1 } })).toMatchObject({ length: 7 });
  });

  it('streams a chunked response to its end, and an empty one', async () => {
    const res = await client.stream('GET', '/chunked');
    expect(res.statusCode).toBe(200);
    const data = await readAll(res);
    expect(data.length).toBe(100_005);
    expect(data.subarray(0, 6).toString()).toBe('aaaaab');
    expect(await client.request('DELETE', '/empty')).toBeUndefined();
  });

  it('hands on the data of many chunks read at once, in order', async () => {
    const data = (await readAll(await client.stream('GET', '/corked'))).toString();
    const small = Array.from({ length: 50 }, (_, i) => String(i % 10)).join('');
    expect(data).toBe(
      `${'x'.repeat(20_000)}${'y'.repeat(20_000)}${'z'.repeat(20_000)}${small}${'x'.repeat(3_000)}${'y'.repeat(3_000)}`,
    );
  });

  it("turns an error status into ApiError with the daemon's message", async () => {
    await expect(client.request('GET', '/missing')).rejects.toEqual(
      new ApiError(404, 'No such container: x'),
    );
  });

  it('hands over an upgraded connection with the bytes after the headers', async () => {
    const { socket, head } = await client.hijack('POST', '/attach');
    const chunks: Buffer[] = [head];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.resume();
    socket.end('ping');
    await new Promise((r) => socket.once('close', r));
    expect(Buffer.concat(chunks).toString()).toBe('hello PING');
  });

  it('reports a missing socket as an unreachable daemon', async () => {
    const missing = new EngineClient(join(dir, 'nothing.sock'));
    await expect(missing.request('GET', '/_ping')).rejects.toBeInstanceOf(DaemonUnreachableError);
    expect(await missing.ping()).toBe(false);
  });
});

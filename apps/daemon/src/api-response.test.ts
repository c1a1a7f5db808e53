import { type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { API_VERSION } from '@ts-container/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiResponse } from './api-response.js';

const SERVER = `tsctr/${API_VERSION}`;

describe('ApiResponse', () => {
  const answers: Record<string, (res: ServerResponse) => void> = {
    '/plain': (res) => {
      res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': 2 });
      res.end('{}');
    },
    '/own-version': (res) => {
      res.writeHead(200, 'Fine', { 'X-First': 'a', ostype: 'other' });
      res.end();
    },
    '/implicit': (res) => {
      res.statusCode = 204;
      res.end();
    },
    '/progressive': (res) => {
      res.setHeader('X-Set', 'early');
      res.writeHead(200, { 'X-Given': 'late', Server: 'mine' });
      res.end();
    },
    '/array': (res) => {
      res.writeHead(200, ['X-Raw', '1']);
      res.end();
    },
  };
  const server = createServer({ ServerResponse: ApiResponse }, (req, res) => answers[req.url ?? '']!(res));
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.close();
  });

  const get = (path: string) =>
    new Promise<{ status: number; message: string; headers: string[][] }>((resolve, reject) => {
      request({ port, path, agent: false }, (res) => {
        res.resume();
        const headers: string[][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2)
          if (!['Date', 'Connection', 'Keep-Alive'].includes(res.rawHeaders[i]!))
            headers.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, message: res.statusMessage ?? '', headers }),
        );
      })
        .on('error', reject)
        .end();
    });

  it('puts the common headers first on every answer', async () => {
    expect(await get('/plain')).toEqual({
      status: 201,
      message: 'Created',
      headers: [
        ['Api-Version', API_VERSION],
        ['Ostype', 'linux'],
        ['Server', SERVER],
        ['Content-Type', 'application/json'],
        ['Content-Length', '2'],
      ],
    });
    expect((await get('/implicit')).headers).toEqual([
      ['Api-Version', API_VERSION],
      ['Ostype', 'linux'],
      ['Server', SERVER],
    ]);
  });

  it('takes a handler’s own value for a common header, in its place and spelling', async () => {
    expect(await get('/own-version')).toEqual({
      status: 200,
      message: 'Fine',
      headers: [
        ['Api-Version', API_VERSION],
        ['ostype', 'other'],
        ['Server', SERVER],
        ['X-First', 'a'],
        ['Transfer-Encoding', 'chunked'],
      ],
    });
  });

  it('keeps the order with setHeader and with header arrays', async () => {
    expect((await get('/progressive')).headers).toEqual([
      ['Api-Version', API_VERSION],
      ['Ostype', 'linux'],
      ['Server', 'mine'],
      ['X-Set', 'early'],
      ['X-Given', 'late'],
      ['Transfer-Encoding', 'chunked'],
    ]);
    expect((await get('/array')).headers).toEqual([
      ['Api-Version', API_VERSION],
      ['Ostype', 'linux'],
      ['Server', SERVER],
      ['X-Raw', '1'],
      ['Transfer-Encoding', 'chunked'],
    ]);
  });
});

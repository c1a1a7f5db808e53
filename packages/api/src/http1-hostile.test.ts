import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RESPONSE_HEAD_BYTES, exchange } from './http1.js';

/**
 * What the transport does with a server that does not speak HTTP properly (a hostile remote
 * daemon, or another program on its address): a clear error, bounded memory, never a hang.
 */
describe('HTTP/1.1 transport against a broken server', () => {
  let dir: string;
  let server: Server;
  let path: string;
  const answers = new Map<string, (socket: Socket) => void>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsctr-http1-hostile-'));
    path = join(dir, 'bad.sock');
    server = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.once('data', (request: Buffer) => {
        const target = request.toString('latin1').split(' ')[1] ?? '';
        answers.get(target)?.(socket);
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const ask = async (target: string) => {
    const response = await exchange(connect(path), { method: 'GET', path: target, host: 'x', headers: {} });
    const chunks: Buffer[] = [];
    for await (const c of response) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };

  it('refuses a header block that never ends', async () => {
    answers.set('/endless', (socket) => {
      socket.write('HTTP/1.1 200 OK\r\n');
      const line = Buffer.from(`X-Pad: ${'a'.repeat(8192)}\r\n`);
      const pump = () => {
        while (!socket.destroyed && socket.write(line)) {}
      };
      socket.on('drain', pump);
      pump();
    });
    await expect(ask('/endless')).rejects.toThrow(`headers over ${MAX_RESPONSE_HEAD_BYTES} bytes`);
  });

  it('refuses a Content-Length that is not a length', async () => {
    answers.set('/length', (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello'));
    await expect(ask('/length')).rejects.toThrow('malformed HTTP response: Content-Length "-5"');
  });

  it('refuses chunk sizes that are not hex numbers, and endless chunk-size lines', async () => {
    answers.set('/negative', (socket) =>
      socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n'),
    );
    await expect(ask('/negative')).rejects.toThrow('malformed chunked response body');
    answers.set('/long-line', (socket) =>
      socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'1'.repeat(10_000)}`),
    );
    await expect(ask('/long-line')).rejects.toThrow('malformed chunked response body');
    for (const [path, line] of [
      ['/two-numbers', '5 6'],
      ['/no-digits', ' ;ext'],
      ['/fourteen-digits', '0'.repeat(13) + '5'],
      ['/plus', '+5'],
    ]) {
      answers.set(path!, (socket) =>
        socket.end(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${line}\r\nhello\r\n0\r\n\r\n`),
      );
      await expect(ask(path!)).rejects.toThrow('malformed chunked response body');
    }
  });

  it('still reads a well-formed chunked answer after them', async () => {
    answers.set('/good', (socket) =>
      socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n'),
    );
    expect(await ask('/good')).toBe('hello');
    // Blanks around the size, upper-case hex, many chunks in one read: one body, in order.
    const lines = Array.from({ length: 300 }, (_, i) => `line ${i}\n`);
    const body = lines.map((l) => `\t${l.length.toString(16).toUpperCase()} \r\n${l}\r\n`).join('');
    answers.set('/many', (socket) =>
      socket.end(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}0\r\n\r\n`),
    );
    expect(await ask('/many')).toBe(lines.join(''));
  });
});

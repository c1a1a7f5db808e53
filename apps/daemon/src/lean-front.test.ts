import { type Server, createServer } from 'node:http';
import { type Socket, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiResponse } from './api-response.js';
import { installLeanFront } from './lean-front.js';

/**
 * The lean front on a real server: which requests it answers, that its answers are node:http's
 * bytes, and that anything else (slow, pipelined, malformed, oversized, with a body or an
 * upgrade) reaches node:http with every byte, after which the connection still works.
 */
describe('lean front', () => {
  const served: string[] = [];
  let release: (() => void) | undefined;
  const server = createServer({ ServerResponse: ApiResponse, keepAliveTimeout: 5_000 }, (req, res) => {
    served.push(`${req.method} ${req.url} ${req.constructor.name}`);
    if (req.url === '/slow') {
      release = () => {
        res.writeHead(200, { 'Content-Length': 4 });
        res.end('slow');
      };
      return;
    }
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
        res.end(body);
      });
      return;
    }
    // A long list's size: the lean front writes it beside its head, not copied behind it.
    const body = Buffer.from(req.url?.endsWith('/big') ? 'b'.repeat(40_000) : `hi ${req.url}`);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
    res.end(body);
  });
  server.on('upgrade', (_req, socket: Socket) => {
    socket.end('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nstream');
  });
  installLeanFront(server as unknown as Server, (_method, target) => !target.startsWith('/heavy'));
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** A raw connection: `send` writes bytes, `until` waits for the text received to match. */
  const open = async () => {
    const socket = connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let text = '';
    let ended = false;
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    socket.on('end', () => {
      ended = true;
    });
    socket.on('error', () => undefined);
    const until = async (test: (t: string) => boolean, what: string) => {
      for (let i = 0; i < 500 && !test(text); i++) await new Promise((r) => setTimeout(r, 10));
      expect(test(text), `${what}; received: ${JSON.stringify(text)}`).toBe(true);
      return text;
    };
    const responses = () => text.split('HTTP/1.1 ').length - 1;
    return {
      socket,
      send: (s: string) => socket.write(s),
      until,
      responses,
      text: () => text,
      ended: () => ended,
      reset: () => {
        text = '';
      },
    };
  };
  const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
  const normalized = (t: string) => t.replace(/Date: [^\r]*/g, 'Date: X');

  it('answers plain GETs itself, byte for byte as node:http, on one keep-alive connection', async () => {
    const c = await open();
    for (let i = 0; i < 3; i++) {
      c.send(get(`/a${i}`));
      await c.until(() => c.responses() === i + 1, `answer ${i}`);
    }
    c.send(get('/heavy'));
    await c.until(() => c.responses() === 4, 'the answer of node:http');
    const answers = normalized(c.text()).split(/(?=HTTP\/1\.1 )/);
    const expected = (path: string) =>
      `HTTP/1.1 200 OK\r\nApi-Version: ${answers[0]!.match(/Api-Version: (\S+)/)![1]}\r\nOstype: linux\r\nServer: ${answers[0]!.match(/Server: (\S+)/)![1]}\r\nContent-Type: text/plain\r\nContent-Length: ${`hi ${path}`.length}\r\nDate: X\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nhi ${path}`;
    expect(answers).toEqual([expected('/a0'), expected('/a1'), expected('/a2'), expected('/heavy')]);
    expect(served.slice(-4).map((s) => s.split(' ')[2])).toEqual([
      'LeanRequest',
      'LeanRequest',
      'LeanRequest',
      'IncomingMessage',
    ]);
    c.socket.destroy();
  });

  it('writes a large body as node:http does', async () => {
    const c = await open();
    c.send(get('/big'));
    await c.until((t) => t.endsWith('b'.repeat(40_000)), 'the lean answer');
    c.send(get('/heavy/big'));
    await c.until(
      (t) => t.split('HTTP/1.1 ').length === 3 && t.endsWith('b'.repeat(40_000)),
      "node's answer",
    );
    const [lean, node] = normalized(c.text()).split(/(?=HTTP\/1\.1 )/);
    expect(lean).toBe(node);
    expect(served.slice(-2).map((s) => s.split(' ')[2])).toEqual(['LeanRequest', 'IncomingMessage']);
    c.socket.destroy();
  });

  it('gives node:http a head that arrives in pieces (a slow client), with every byte', async () => {
    const c = await open();
    const request = get('/trickle', 'X-A: 1\r\n');
    for (const ch of request) {
      c.send(ch);
      await new Promise((r) => setTimeout(r, 1));
    }
    await c.until((t) => t.endsWith('hi /trickle'), 'the trickled request answered');
    expect(served.at(-1)).toBe('GET /trickle IncomingMessage');
    c.socket.destroy();
  });

  it('gives node:http pipelined requests, and answers them in order', async () => {
    const c = await open();
    c.send(get('/first'));
    await c.until(() => c.responses() === 1, 'the lean answer');
    c.send(get('/p1') + get('/p2') + get('/p3'));
    await c.until((t) => t.endsWith('hi /p3'), 'three pipelined answers');
    expect(c.text().match(/hi \/(first|p\d)/g)).toEqual(['hi /first', 'hi /p1', 'hi /p2', 'hi /p3']);
    c.socket.destroy();
  });

  it('gives node:http a request with a body, after lean ones on the same connection', async () => {
    const c = await open();
    c.send(get('/before'));
    await c.until(() => c.responses() === 1, 'the lean answer');
    c.send('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
    await c.until((t) => t.endsWith('hello'), 'the body echoed');
    c.send(get('/after'));
    await c.until((t) => t.endsWith('hi /after'), 'node:http keeps serving the connection');
    c.socket.destroy();
  });

  it('gives node:http an upgrade', async () => {
    const c = await open();
    c.send(get('/attach', 'Connection: Upgrade\r\nUpgrade: tcp\r\n'));
    await c.until((t) => t.endsWith('stream'), 'the upgraded stream');
  });

  it('leaves malformed and oversized requests to node:http (400, 431), and the server keeps answering', async () => {
    for (const [bad, status] of [
      ['GARBAGE\r\n\r\n', 400],
      ['GET /x HTTP/1.1\r\nBad Header\r\n\r\n', 400],
      ['GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400],
      [get('/x', `X-Big: ${'a'.repeat(20_000)}\r\n`), 431],
      ['GET /x HTTP/1.1\r\n\r\n', 400],
    ] as const) {
      const c = await open();
      c.send(bad);
      await c.until((t) => t.startsWith(`HTTP/1.1 ${status}`), `${JSON.stringify(bad.slice(0, 40))} refused`);
      c.socket.destroy();
    }
    const c = await open();
    c.send(get('/still'));
    await c.until((t) => t.endsWith('hi /still'), 'a later request answered');
    c.socket.destroy();
  });

  it('holds a client that sends while an answer is pending, and answers in order', async () => {
    const c = await open();
    c.send(get('/slow'));
    await new Promise((r) => setTimeout(r, 50));
    c.send(get('/next'));
    await new Promise((r) => setTimeout(r, 50));
    expect(c.responses()).toBe(0);
    release?.();
    await c.until((t) => t.endsWith('hi /next'), 'both answered');
    expect(c.text().indexOf('slow')).toBeLessThan(c.text().indexOf('hi /next'));
    c.socket.destroy();
  });

  it('answers a request whose client then closes its side, and closes the connection', async () => {
    const c = await open();
    c.socket.end(get('/last'));
    await c.until((t) => t.endsWith('hi /last'), 'the answer');
    await c.until(() => c.ended(), 'the connection ended');
  });

  it('closes a keep-alive connection idle past the keep-alive time', async () => {
    const saved = server.keepAliveTimeout;
    server.keepAliveTimeout = 200;
    try {
      const c = await open();
      c.send(get('/idle'));
      await c.until((t) => t.includes('Keep-Alive: timeout=0'), 'the answer');
      await c.until(() => c.ended() || c.socket.destroyed, 'closed after the keep-alive time');
    } finally {
      server.keepAliveTimeout = saved;
    }
  });
});

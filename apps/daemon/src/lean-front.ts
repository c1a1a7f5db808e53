import { EventEmitter } from 'node:events';
import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { parseRequestHead } from '@ts-container/api';
import { withCommonHeaders } from './api-response.js';

/** Heads above this go to node:http (whose own limit, 16 KiB, answers 431). */
const MAX_LEAN_HEAD_BYTES = 8192;
/** A connection that has sent nothing yet is kept as long as node:http waits for a head. */
const FIRST_REQUEST_TIMEOUT_MS = 60_000;
/** Bodies up to this size are written with their head as one buffer; larger ones beside it. */
const COPY_BODY_MAX = 16 * 1024;
/** Request headers that make a request node:http's (a body, an upgrade, a non-default connection). */
const NOT_LEAN = new Set(['content-length', 'transfer-encoding', 'upgrade', 'expect', 'trailer', 'te']);

/** Which requests the lean front answers: a GET or HEAD whose route only sends one whole answer. */
export type LeanTest = (method: string, target: string) => boolean;

/**
 * Answers the simplest requests on a connection itself, node:http the rest. A Docker client's
 * calls are mostly a bodiless GET on a keep-alive connection (`_ping`, `ps`, `inspect`): parsing
 * them, and building node's request and response streams for them, was most of what the daemon
 * spent per call. A request goes to the same `request` listeners, with a small request and
 * response of its own, when it arrives whole in one read, alone (no pipelining), is HTTP/1.1
 * `GET`/`HEAD` without a body, upgrade or `Expect`, with plain headers, and `isLean` accepts its
 * route. At the first request that is anything else (a partial or slow head, a bad one, a body,
 * pipelined requests) the connection is node:http's for good, its unread bytes given back, so
 * every error answer, limit and timeout is node's own.
 */
export function installLeanFront(server: Server, isLean: LeanTest): void {
  const [nodeConnection, ...others] = server.listeners('connection') as Array<(socket: Socket) => void>;
  if (!nodeConnection || others.length > 0)
    throw new Error('the lean front expects node:http alone on connection');
  server.removeAllListeners('connection');
  const open = new Set<LeanConnection>();
  server.on('connection', (socket: Socket) => {
    const connection = new LeanConnection(server, socket, isLean, (handed) => {
      open.delete(connection);
      if (handed) nodeConnection.call(server, socket);
    });
    open.add(connection);
  });
  // server.close() closes idle connections; node:http knows only its own.
  for (const method of ['closeIdleConnections', 'closeAllConnections'] as const) {
    const original = server[method].bind(server);
    server[method] = () => {
      original();
      for (const c of open) if (method === 'closeAllConnections' || !c.busy) c.socket.destroy();
    };
  }
}

class LeanConnection {
  busy = false;
  private buffered: Buffer | undefined;
  private ended = false;
  private inFlight: LeanResponse | undefined;
  private answered = false;

  constructor(
    private readonly server: Server,
    readonly socket: Socket,
    private readonly isLean: LeanTest,
    private readonly done: (handedOver: boolean) => void,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('timeout', this.onTimeout);
    socket.on('close', this.onClose);
    socket.setTimeout(FIRST_REQUEST_TIMEOUT_MS);
  }

  private readonly onData = (chunk: Buffer) => {
    this.buffered = this.buffered ? Buffer.concat([this.buffered, chunk]) : chunk;
    if (!this.busy) this.next();
    else if (this.buffered.length > MAX_LEAN_HEAD_BYTES) this.socket.pause();
  };

  private readonly onEnd = () => {
    this.ended = true;
    if (!this.busy) this.finishAfterEnd();
  };

  private readonly onError = () => {
    this.socket.destroy();
  };

  /** Idle past the keep-alive time (or never sent a request): closed, as node:http does. */
  private readonly onTimeout = () => {
    if (!this.busy) this.socket.destroy();
  };

  private readonly onClose = () => {
    this.detach();
    this.inFlight?.gone();
    this.done(false);
  };

  private detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    this.socket.off('timeout', this.onTimeout);
    this.socket.off('close', this.onClose);
  }

  /** Answers the buffered request if it is a lean one, else gives the connection to node:http. */
  private next(): void {
    const buffered = this.buffered;
    if (!buffered) return;
    const end = buffered.indexOf('\r\n\r\n');
    // Whole and alone, or node's: a partial head (slow clients too) or pipelined requests.
    const head =
      end >= 0 && end + 4 === buffered.length && end <= MAX_LEAN_HEAD_BYTES
        ? parseRequestHead(buffered.toString('latin1', 0, end))
        : undefined;
    if (
      !head ||
      head.version !== '1.1' ||
      (head.method !== 'GET' && head.method !== 'HEAD') ||
      !head.target.startsWith('/') ||
      // node:http answers an HTTP/1.1 request without Host with a 400.
      head.headers.host === undefined ||
      Object.keys(head.headers).some((n) => NOT_LEAN.has(n)) ||
      (head.headers.connection !== undefined && head.headers.connection.toLowerCase() !== 'keep-alive') ||
      !this.isLean(head.method, head.target)
    ) {
      this.handOver();
      return;
    }
    this.buffered = undefined;
    this.busy = true;
    const req = new LeanRequest(this.socket, head.method, head.target, head.headers);
    const res = new LeanResponse(req, this.socket, this.server.keepAliveTimeout, () => this.answeredOne());
    this.inFlight = res;
    this.server.emit('request', req, res);
  }

  private answeredOne(): void {
    this.inFlight = undefined;
    this.busy = false;
    if (!this.answered) {
      this.answered = true;
      this.socket.setTimeout(this.server.keepAliveTimeout);
    }
    if (this.socket.isPaused()) this.socket.resume();
    if (this.buffered) this.next();
    else if (this.ended) this.finishAfterEnd();
  }

  /** The client closed its side: bytes that never made a whole request are dropped with it. */
  private finishAfterEnd(): void {
    if (this.buffered) this.socket.destroy();
    else this.socket.end();
  }

  private handOver(): void {
    this.detach();
    this.socket.setTimeout(0);
    this.socket.pause();
    if (this.buffered) this.socket.unshift(this.buffered);
    this.buffered = undefined;
    this.done(true);
    this.socket.resume();
  }
}

/** The request as handlers of lean routes read it (method, target, headers, socket). */
class LeanRequest extends EventEmitter {
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly complete = true;

  constructor(
    readonly socket: Socket,
    readonly method: string,
    readonly url: string,
    readonly headers: Record<string, string>,
  ) {
    super();
  }

  /** No body: a lean request has none. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {}
}

/**
 * The response of a lean request: one `writeHead` and one `end`, written as node:http would
 * write them, byte for byte (status line, common headers first, Date, keep-alive, framing).
 */
class LeanResponse extends EventEmitter {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  writableEnded = false;
  destroyed = false;
  private headers: ReturnType<typeof withCommonHeaders> | undefined;

  constructor(
    private readonly req: LeanRequest,
    readonly socket: Socket,
    private readonly keepAliveMs: number,
    private readonly finished: () => void,
  ) {
    super();
  }

  writeHead(
    statusCode: number,
    reason?: string | Record<string, unknown>,
    headers?: Record<string, unknown>,
  ): this {
    if (this.headersSent) throw new Error('the headers of this response were sent already');
    const [message, given] = typeof reason === 'string' ? [reason, headers] : [undefined, reason];
    this.statusCode = statusCode;
    this.statusMessage = message ?? STATUS_CODES[statusCode] ?? 'unknown';
    const list = withCommonHeaders(given as Parameters<typeof withCommonHeaders>[0]);
    // node:http refuses these values too (before anything is sent).
    for (let i = 1; i < list.length; i += 2)
      if (list[i] === undefined || /[\r\n]/.test(String(list[i])))
        throw new TypeError(`invalid value for header "${String(list[i - 1])}"`);
    this.headers = list;
    this.headersSent = true;
    return this;
  }

  end(data?: Buffer | string | (() => void)): this {
    if (this.writableEnded) return this;
    this.writableEnded = true;
    const body = typeof data === 'string' ? Buffer.from(data) : typeof data === 'function' ? undefined : data;
    const implicit = !this.headersSent;
    if (implicit) this.writeHead(this.statusCode);
    const status = this.statusCode;
    const hasBody =
      this.req.method !== 'HEAD' && status !== 204 && status !== 304 && !(status >= 100 && status < 200);
    let head = `HTTP/1.1 ${status} ${this.statusMessage}\r\n`;
    let length = false;
    let date = false;
    let connection = false;
    const list = this.headers ?? [];
    for (let i = 0; i < list.length; i += 2) {
      const name = String(list[i]);
      const values = list[i + 1];
      for (const value of Array.isArray(values) ? values : [values]) head += `${name}: ${value}\r\n`;
      const lower = name.toLowerCase();
      if (lower === 'content-length') length = true;
      else if (lower === 'date') date = true;
      else if (lower === 'connection') connection = true;
    }
    if (!date) head += `Date: ${utcDate()}\r\n`;
    if (!connection)
      head += `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(this.keepAliveMs / 1000)}\r\n`;
    let payload = hasBody ? body : undefined;
    if (!length && hasBody) {
      if (implicit) head += `Content-Length: ${body?.length ?? 0}\r\n`;
      else {
        head += 'Transfer-Encoding: chunked\r\n';
        const size = payload?.length ?? 0;
        payload = Buffer.concat([
          Buffer.from(size > 0 ? `${size.toString(16)}\r\n` : '', 'latin1'),
          payload ?? Buffer.alloc(0),
          Buffer.from(size > 0 ? '\r\n0\r\n\r\n' : '0\r\n\r\n', 'latin1'),
        ]);
      }
    }
    head += '\r\n';
    if (this.socket.destroyed) {
      this.gone();
      return this;
    }
    const written = (err?: Error | null) => {
      if (err) return;
      this.emit('finish');
      this.emit('close');
      this.req.emit('close');
      this.finished();
    };
    if (payload !== undefined && payload.length > COPY_BODY_MAX) {
      // A large body (a long list) is not copied behind its head: both go in one writev.
      this.socket.cork();
      this.socket.write(head, 'latin1');
      this.socket.write(payload, written);
      this.socket.uncork();
      return this;
    }
    const out = Buffer.allocUnsafe(Buffer.byteLength(head, 'latin1') + (payload?.length ?? 0));
    const at = out.write(head, 0, 'latin1');
    payload?.copy(out, at);
    this.socket.write(out, written);
    return this;
  }

  destroy(): this {
    this.socket.destroy();
    return this;
  }

  /** The connection closed before the answer was written. */
  gone(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
    this.req.emit('close');
  }
}

let cachedDate = '';
let cachedSecond = -1;
/** node:http's Date value: the current second, formatted once per second. */
function utcDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(second * 1000).toUTCString();
  }
  return cachedDate;
}

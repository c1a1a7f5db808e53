import { type Duplex, Readable } from 'node:stream';
import { parseHeadFields } from './http1-head.js';

/**
 * HTTP/1.1 over one connection (a unix or TCP socket, a TLS socket, an ssh child's pipes): the
 * client side of what the Engine API needs, one request per connection. Ours rather than
 * node:http's, because Bun's node:http does not take a `createConnection` (so no TLS material
 * of our own, no ssh) and hands upgraded connections over differently; this one sees only a
 * Duplex, which both runtimes provide alike.
 */

export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** A response body as a stream, with its status and headers (lower-case names, as node:http). */
export interface HttpResponse extends Readable {
  statusCode: number;
  headers: ResponseHeaders;
}

export interface HttpRequest {
  method: string;
  /** The path with its query string. */
  path: string;
  host: string;
  headers: Record<string, string>;
  /** Sent with a Content-Length, or (a stream) chunked unless `headers` give its Content-Length. */
  body?: Buffer | Readable;
  signal?: AbortSignal;
}

/** What answered an upgrade request: the connection itself and the bytes read past the headers. */
export interface Upgraded {
  socket: Duplex;
  head: Buffer;
  headers: ResponseHeaders;
}

const CRLF = Buffer.from('\r\n');
/** A server (a remote daemon, or whatever answers on its address) sending more is refused, as Go's client does past its limit. */
export const MAX_RESPONSE_HEAD_BYTES = 1 << 20;
/** Up to this many chunks' data in one read are handed on one by one, more are joined first. */
const FEW_CHUNKS = 4;
/** A chunk-size line is a hex number and extensions: anything longer is not HTTP. */
const MAX_CHUNK_LINE_BYTES = 4096;

/** The header block (status line, headers) parsed, and where the body starts. */
interface Head {
  statusCode: number;
  headers: ResponseHeaders;
  rest: Buffer;
}

function parseHead(block: string, rest: Buffer): Head {
  const [status = '', ...lines] = block.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(status);
  if (!m) throw new Error(`malformed HTTP response: ${JSON.stringify(status.slice(0, 80))}`);
  const headers: ResponseHeaders = parseHeadFields(lines, 'lenient');
  return { statusCode: Number(m[1]), headers, rest };
}

function requestHead(req: HttpRequest, framing: Record<string, string>): Buffer {
  const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: ${req.host}`, 'User-Agent: tsctr'];
  const all = { ...framing, ...req.headers };
  if (!Object.keys(all).some((k) => k.toLowerCase() === 'connection')) all.Connection = 'close';
  for (const [k, v] of Object.entries(all)) lines.push(`${k}: ${v}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

async function writeAll(conn: Duplex, data: Buffer): Promise<void> {
  if (!conn.write(data))
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        conn.off('drain', done);
        conn.off('close', closed);
        err ? reject(err) : resolve();
      };
      const closed = () => done(new Error('connection closed while sending the request body'));
      conn.once('drain', done);
      conn.once('close', closed);
    });
}

/** Writes the request: the head, then the body with its framing. */
async function send(conn: Duplex, req: HttpRequest): Promise<void> {
  const { body } = req;
  if (body === undefined) {
    const empty = req.method === 'GET' || req.method === 'HEAD' ? {} : { 'Content-Length': '0' };
    conn.write(requestHead(req, empty));
    return;
  }
  if (Buffer.isBuffer(body)) {
    conn.write(Buffer.concat([requestHead(req, { 'Content-Length': String(body.length) }), body]));
    return;
  }
  const declared = declaredLength(req.headers);
  if (declared !== undefined) {
    // A stream of known length (a file) goes as it is: no framing, no copy of each piece.
    conn.write(requestHead(req, {}));
    let sent = 0;
    for await (const chunk of body) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      sent += data.length;
      if (sent > declared) throw new Error(`request body longer than its Content-Length (${declared})`);
      await writeAll(conn, data);
    }
    if (sent !== declared) throw new Error(`request body ended after ${sent} of ${declared} bytes`);
    return;
  }
  conn.write(requestHead(req, { 'Transfer-Encoding': 'chunked' }));
  for await (const chunk of body) {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    if (data.length === 0) continue;
    await writeAll(conn, Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, CRLF]));
  }
  conn.write('0\r\n\r\n');
}

/** The Content-Length a caller gave for a streamed body, if any. */
function declaredLength(headers: Record<string, string>): number | undefined {
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() !== 'content-length') continue;
    const length = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(length))
      throw new Error(`invalid Content-Length ${value}`);
    return length;
  }
  return undefined;
}

/**
 * Sends a request on `conn` and resolves with the response once its headers arrive (its body
 * streams), or with the connection itself when the server switches protocols (101) and
 * `upgrade` is set. `onError` receives errors of the connection before the headers.
 */
export function exchange(conn: Duplex, req: HttpRequest, upgrade: true): Promise<Upgraded | HttpResponse>;
export function exchange(conn: Duplex, req: HttpRequest, upgrade?: false): Promise<HttpResponse>;
export function exchange(conn: Duplex, req: HttpRequest, upgrade = false): Promise<Upgraded | HttpResponse> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      conn.destroy();
      reject(err);
    };
    const onAbort = () => fail(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }));
    const onClose = () => fail(new Error('EOF: the daemon closed the connection before answering'));
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > MAX_RESPONSE_HEAD_BYTES)
          fail(new Error(`malformed HTTP response: headers over ${MAX_RESPONSE_HEAD_BYTES} bytes`));
        return;
      }
      let head: Head;
      try {
        head = parseHead(buffered.subarray(0, end).toString('latin1'), buffered.subarray(end + 4));
      } catch (err) {
        fail(err as Error);
        return;
      }
      if (head.statusCode === 100) {
        buffered = head.rest;
        if (buffered.length > 0) onData(Buffer.alloc(0));
        return;
      }
      settled = true;
      cleanup();
      conn.pause();
      if (upgrade && head.statusCode === 101) {
        resolve({ socket: conn, head: head.rest, headers: head.headers });
        return;
      }
      resolve(bodyStream(conn, head, req.method === 'HEAD', req.signal));
    };
    const cleanup = () => {
      conn.off('data', onData);
      conn.off('error', fail);
      conn.off('end', onClose);
      conn.off('close', onClose);
      req.signal?.removeEventListener('abort', onAbort);
    };
    if (req.signal?.aborted) return onAbort();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    conn.on('data', onData);
    conn.on('error', fail);
    conn.on('end', onClose);
    conn.on('close', onClose);
    send(conn, req).catch(fail);
  });
}

/**
 * The size on a chunk-size line (`buf[start, end)`): 1 to 13 hex digits, blanks around them,
 * extensions after `;` ignored. Read byte by byte: a `logs` response has a line per log line.
 */
function chunkSize(buf: Buffer, start: number, end: number): number | undefined {
  let i = start;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
  let size = 0;
  let digits = 0;
  for (; i < end; i++, digits++) {
    const c = buf[i]!;
    const v =
      c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1;
    if (v < 0) break;
    size = size * 16 + v;
  }
  while (i < end && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
  if (digits === 0 || digits > 13 || (i < end && buf[i] !== 0x3b)) return undefined;
  return size;
}

/** The body after the headers, by Content-Length, chunked framing, or up to the end of the connection. */
function bodyStream(conn: Duplex, head: Head, isHead: boolean, signal?: AbortSignal): HttpResponse {
  const { statusCode, headers } = head;
  const chunked = /\bchunked\b/i.test(String(headers['transfer-encoding'] ?? ''));
  const lengthHeader = headers['content-length'];
  const length = lengthHeader === undefined ? undefined : Number(lengthHeader);
  const empty = isHead || statusCode === 204 || statusCode === 304 || (!chunked && length === 0);
  let remaining = chunked ? 0 : (length ?? Number.POSITIVE_INFINITY);
  let pending: Buffer = Buffer.alloc(0);
  let finished = false;

  const badLength = !chunked && length !== undefined && !(Number.isSafeInteger(length) && length >= 0);
  // The body is read from the connection only once its consumer reads: an error found in it
  // (a broken framing, the connection failing) then reaches a listener instead of the process.
  let started = false;
  let connError: Error | undefined;
  const noteError = (err: Error) => {
    connError ??= err;
  };
  conn.on('error', noteError);
  const out = new Readable({
    read: () => {
      if (started) {
        conn.resume();
        return;
      }
      started = true;
      start();
    },
    destroy: (err, cb) => {
      cleanup();
      conn.destroy();
      cb(err);
    },
  }) as HttpResponse;
  out.statusCode = statusCode;
  out.headers = headers;

  const finish = () => {
    if (finished) return;
    finished = true;
    cleanup();
    out.push(null);
    conn.destroy();
  };
  const emit = (data: Buffer) => {
    if (data.length > 0 && !out.push(data)) conn.pause();
  };
  /**
   * Chunked framing: `<hex size>[;ext]\r\n<data>\r\n` … `0\r\n[trailers]\r\n`. What one read
   * holds is parsed by offset. Many small chunks (a `logs` response of a million one-line
   * chunks) are handed on as one buffer, not a million pushes (nor, under Bun, a million costly
   * subarrays); a few large ones (an archive) as they are, not copied into one.
   */
  const dechunk = () => {
    const buf = pending;
    const parts: Buffer[] = [];
    let pos = 0;
    const handOn = () => {
      pending = buf.subarray(pos);
      if (parts.length === 0) return;
      if (parts.length === 1) emit(parts[0]!);
      else if (parts.length > FEW_CHUNKS) emit(Buffer.concat(parts));
      else for (const part of parts) emit(part);
    };
    for (;;) {
      if (remaining > 0) {
        const take = Math.min(remaining, buf.length - pos);
        if (take > 0) parts.push(buf.subarray(pos, pos + take));
        pos += take;
        remaining -= take;
        if (remaining > 0) return handOn();
        remaining = -2; // the CRLF after the data
      }
      if (remaining === -2) {
        if (buf.length - pos < 2) return handOn();
        pos += 2;
        remaining = 0;
      }
      const eol = buf.indexOf(CRLF, pos);
      if (eol < 0) {
        if (buf.length - pos > MAX_CHUNK_LINE_BYTES) {
          out.destroy(new Error('malformed chunked response body'));
          return;
        }
        return handOn();
      }
      const size = chunkSize(buf, pos, eol);
      if (size === undefined) {
        out.destroy(new Error('malformed chunked response body'));
        return;
      }
      pos = eol + 2;
      if (size === 0) {
        handOn();
        return finish();
      }
      remaining = size;
    }
  };
  const onData = (chunk: Buffer) => {
    if (finished) return;
    if (chunked) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      dechunk();
      return;
    }
    const take = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk;
    remaining -= take.length;
    emit(take);
    if (remaining === 0) finish();
  };
  const onEnd = () => {
    if (finished) return;
    if (chunked || remaining !== Number.POSITIVE_INFINITY)
      out.destroy(new Error('unexpected EOF: the daemon closed the connection mid-response'));
    else finish();
  };
  const onError = (err: Error) => {
    if (!finished) out.destroy(err);
  };
  const onAbort = () =>
    out.destroy(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }));
  const cleanup = () => {
    conn.off('error', noteError);
    conn.off('data', onData);
    conn.off('end', onEnd);
    conn.off('close', onEnd);
    conn.off('error', onError);
    signal?.removeEventListener('abort', onAbort);
  };

  const start = () => {
    conn.off('error', noteError);
    if (finished) return;
    if (connError) return out.destroy(connError);
    if (badLength) {
      out.destroy(new Error(`malformed HTTP response: Content-Length ${JSON.stringify(lengthHeader)}`));
      return;
    }
    conn.on('data', onData);
    conn.on('end', onEnd);
    conn.on('close', onEnd);
    conn.on('error', onError);
    if (head.rest.length > 0) onData(head.rest);
    if (!finished) conn.resume();
  };
  if (empty) finish();
  else {
    if (badLength) conn.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
  }
  return out;
}

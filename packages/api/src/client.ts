import type { Duplex, Readable } from 'node:stream';
import { type Endpoint, connectError, hostUrl, openConnection } from './endpoint.js';
import { ApiError, DaemonUnreachableError } from './errors.js';
import { type HttpResponse, type ResponseHeaders, exchange } from './http1.js';
import { API_VERSION } from './versions.js';

export {
  connectEndpoint,
  connectError,
  DEFAULT_SOCKET,
  type Endpoint,
  errorCode,
  hostUrl,
  openConnection,
  parseHost,
  socketPathFromHost,
  sshCommand,
  type TlsMaterial,
} from './endpoint.js';
export type { HttpResponse, ResponseHeaders } from './http1.js';

export interface RequestOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  /** JSON-serialised unless it is a Buffer or a stream (sent as is). */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A Docker Engine API client over a unix socket, TCP (with TLS) or ssh. */
export class EngineClient {
  readonly endpoint: Endpoint;

  constructor(
    /** A unix socket path, or any endpoint. */
    endpoint: string | Endpoint,
    readonly version: string = API_VERSION,
  ) {
    this.endpoint = typeof endpoint === 'string' ? { kind: 'unix', path: endpoint } : endpoint;
  }

  private path(path: string, query?: RequestOptions['query']): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (Array.isArray(v)) for (const item of v) qs.append(k, item);
      else if (v !== undefined) qs.set(k, String(v));
    }
    const s = qs.toString();
    return `/v${this.version}${path}${s ? `?${s}` : ''}`;
  }

  /** The Host header: the daemon only needs a valid one (the remote end of ssh talks to its own socket). */
  private hostHeader(): string {
    const e = this.endpoint;
    if (e.kind === 'tcp') return hostUrl(e).slice('tcp://'.length);
    return e.kind === 'ssh' ? 'api.moby.localhost' : 'localhost';
  }

  /** Opens a connection and sends one request on it; connect failures in the docker CLI's words. */
  private async send(
    method: string,
    path: string,
    options: RequestOptions,
    extraHeaders: Record<string, string>,
    upgrade: boolean,
  ) {
    const { body, headers } = encodeBody(options.body, { ...extraHeaders, ...options.headers });
    const fullPath = this.path(path, options.query);
    const conn = await openConnection(this.endpoint, { method, path: fullPath });
    const req = {
      method,
      path: fullPath,
      host: this.hostHeader(),
      headers,
      ...(body !== undefined ? { body: body as Buffer | Readable } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    try {
      return upgrade ? await exchange(conn, req, true) : await exchange(conn, req);
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw connectErrorOf(this.endpoint, err as Error, method, fullPath);
    }
  }

  /** Sends a request and returns the raw response, throwing ApiError for 4xx/5xx. */
  async stream(method: string, path: string, options: RequestOptions = {}): Promise<HttpResponse> {
    const res = (await this.send(method, path, options, {}, false)) as HttpResponse;
    if (res.statusCode >= 400) throw new ApiError(res.statusCode, errorMessage(await readAll(res)));
    return res;
  }

  /** Sends a request and parses the JSON answer (undefined for an empty body). */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    if (bunFetch !== undefined && this.endpoint.kind === 'unix' && !isRawBody(options.body)) {
      const res = await this.fetchThroughBun(bunFetch, this.endpoint.path, method, path, options);
      const data = await readBunBody(res);
      if (res.status >= 400) throw new ApiError(res.status, errorMessage(data));
      return parseAnswer<T>(data, res.headers.get('content-type') ?? '');
    }
    const res = await this.stream(method, path, options);
    return parseAnswer<T>(await readAll(res), String(res.headers['content-type'] ?? ''));
  }

  /**
   * Sends a request and returns the answer's body chunk by chunk, for a reader that only
   * iterates it (`logs`, `events`); throws ApiError for 4xx/5xx as {@link stream} does. Under
   * Bun, on a unix socket, it goes through Bun's fetch as {@link request} does, so that such a
   * command never loads node:net and node's streams (`tsctr logs --tail 10` 25 → 14 ms).
   */
  async chunks(method: string, path: string, options: RequestOptions = {}): Promise<AsyncIterable<Buffer>> {
    if (bunFetch !== undefined && this.endpoint.kind === 'unix' && !isRawBody(options.body)) {
      const res = await this.fetchThroughBun(bunFetch, this.endpoint.path, method, path, options);
      if (res.status >= 400) throw new ApiError(res.status, errorMessage(await readBunBody(res)));
      return bunBodyChunks(res);
    }
    return (await this.stream(method, path, options)) as AsyncIterable<Buffer>;
  }

  /**
   * A request under Bun, on a unix socket, through Bun's fetch: its HTTP client is native, while
   * loading node:net and node's streams into Bun cost each CLI command more than the rest of its
   * work (`tsctr ps` 22 → 12 ms). Connect failures in the docker CLI's words.
   */
  private async fetchThroughBun(
    fetchIn: typeof fetch,
    socketPath: string,
    method: string,
    path: string,
    options: RequestOptions,
  ): Promise<Response> {
    const { body, headers } = encodeBody(options.body, options.headers);
    const fullPath = this.path(path, options.query);
    try {
      return await fetchIn(`http://localhost${fullPath}`, {
        method,
        headers: { 'User-Agent': 'tsctr', ...headers },
        ...(body !== undefined ? { body: body as Buffer } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        // The daemon's answer as it is: no redirect followed, nothing decompressed.
        redirect: 'manual',
        decompress: false,
        // No idle limit, as with node:net: an answer may be minutes away (`wait`, `stop -t`,
        // a quiet `logs -f` or `events`), and Bun documents a 5-minute default for its fetch.
        timeout: false,
        unix: socketPath,
      } as RequestInit);
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw connectErrorOf(this.endpoint, bunFetchError(err as Error, false), method, fullPath);
    }
  }

  /**
   * Upgrades the connection (attach, exec start) and returns it: the daemon answers 101 and
   * then both sides speak the stream format. The connection is paused: reading it (pipe,
   * resume) starts the flow.
   */
  async hijack(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<{ socket: Duplex; head: Buffer; headers: ResponseHeaders }> {
    const answer = await this.send(method, path, options, { Connection: 'Upgrade', Upgrade: 'tcp' }, true);
    if ('socket' in answer) return answer;
    throw new ApiError(answer.statusCode, errorMessage(await readAll(answer)));
  }

  async ping(): Promise<boolean> {
    try {
      await this.request('GET', '/_ping');
      return true;
    } catch (err) {
      if (err instanceof DaemonUnreachableError) return false;
      throw err;
    }
  }
}

function encodeBody(
  body: unknown,
  headers: Record<string, string> = {},
): { body: unknown; headers: Record<string, string> } {
  if (body === undefined) return { body: undefined, headers };
  if (isRawBody(body)) {
    return { body, headers: { 'Content-Type': 'application/x-tar', ...headers } };
  }
  return {
    body: Buffer.from(JSON.stringify(body)),
    headers: { 'Content-Type': 'application/json', ...headers },
  };
}

/** Bun's fetch when this runs under Bun (it can reach a unix socket), else undefined. */
const bunFetch: typeof fetch | undefined =
  (globalThis as { Bun?: unknown }).Bun !== undefined ? globalThis.fetch : undefined;

/**
 * A failure of Bun's fetch in the words of our own HTTP client (a daemon that hung up, or does
 * not speak HTTP), without Bun's advice on fetch options; the code stays for connectError.
 */
function bunFetchError(err: Error, midResponse: boolean): Error {
  const code = (err as { code?: unknown }).code;
  const message =
    code === 'ECONNRESET' || code === 'ConnectionClosed'
      ? midResponse
        ? 'unexpected EOF: the daemon closed the connection mid-response'
        : 'EOF: the daemon closed the connection before answering'
      : code === 'Malformed_HTTP_Response'
        ? 'malformed HTTP response'
        : err.message.replace(/ For more information, pass `verbose: true`.*$/s, '');
  return Object.assign(new Error(message, { cause: err }), typeof code === 'string' ? { code } : {});
}

/** A body sent as it is (a tar Buffer or a stream), which {@link EngineClient.request} leaves to node:net. */
function isRawBody(body: unknown): boolean {
  return body !== undefined && (Buffer.isBuffer(body) || typeof (body as Readable).pipe === 'function');
}

/** The whole body of an answer of Bun's fetch; a connection lost mid-answer in our words. */
async function readBunBody(res: Response): Promise<Buffer> {
  try {
    return Buffer.from(await res.arrayBuffer());
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw bunFetchError(err as Error, true);
  }
}

/** The body of an answer of Bun's fetch as it arrives; a reader that stops early closes the connection. */
async function* bunBodyChunks(res: Response): AsyncGenerator<Buffer> {
  const reader = (res.body as ReadableStream<Uint8Array> | null)?.getReader();
  if (!reader) return;
  let finished = false;
  try {
    for (;;) {
      const step = await reader.read().catch((err: Error) => {
        finished = true;
        throw err.name === 'AbortError' ? err : bunFetchError(err, true);
      });
      if (step.done) {
        finished = true;
        return;
      }
      yield Buffer.from(step.value.buffer, step.value.byteOffset, step.value.byteLength);
    }
  } finally {
    if (!finished) await reader.cancel();
  }
}

/** A JSON answer parsed, text as text, nothing as undefined. */
function parseAnswer<T>(data: Buffer, contentType: string): T {
  if (data.length === 0) return undefined as T;
  return (contentType.includes('json') ? JSON.parse(data.toString('utf8')) : data.toString('utf8')) as T;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function errorMessage(data: Buffer): string {
  const text = data.toString('utf8');
  try {
    const parsed = JSON.parse(text) as { message?: string };
    return parsed.message ?? text;
  } catch {
    return text.trim();
  }
}

/** A connection that failed before the daemon answered; errors of our own making pass as they are. */
function connectErrorOf(endpoint: Endpoint, err: Error, method: string, path: string): Error {
  if (err instanceof ApiError || err instanceof DaemonUnreachableError) return err;
  return connectError(endpoint, err, { method, path });
}

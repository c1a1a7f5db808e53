import { type IncomingMessage, request } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ApiError, DaemonUnreachableError } from './errors.js';
import { API_VERSION } from './versions.js';

export interface RequestOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  /** JSON-serialised unless it is a Buffer or a stream (sent as is). */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export const DEFAULT_SOCKET = '/run/tsctr/tsctr.sock';

/** Resolves `-H`/`DOCKER_HOST` (`unix:///path`) to a socket path. */
export function socketPathFromHost(host: string | undefined): string {
  if (host === undefined || host === '') return DEFAULT_SOCKET;
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  throw new Error(`unsupported host ${JSON.stringify(host)}: only unix:// sockets are served`);
}

/** A Docker Engine API client over a unix socket. */
export class EngineClient {
  constructor(
    readonly socketPath: string,
    readonly version: string = API_VERSION,
  ) {}

  private path(path: string, query?: RequestOptions['query']): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (Array.isArray(v)) for (const item of v) qs.append(k, item);
      else if (v !== undefined) qs.set(k, String(v));
    }
    const s = qs.toString();
    return `/v${this.version}${path}${s ? `?${s}` : ''}`;
  }

  /** Sends a request and returns the raw response, throwing ApiError for 4xx/5xx. */
  async stream(method: string, path: string, options: RequestOptions = {}): Promise<IncomingMessage> {
    const { body, headers } = encodeBody(options.body, options.headers);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path: this.path(path, options.query),
          headers,
          ...(options.signal ? { signal: options.signal } : {}),
        },
        (res) => {
          if ((res.statusCode ?? 500) >= 400) {
            readAll(res).then(
              (data) => reject(new ApiError(res.statusCode ?? 500, errorMessage(data))),
              reject,
            );
            return;
          }
          resolve(res);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES')
          reject(new DaemonUnreachableError(this.socketPath, { cause: err }));
        else reject(err);
      });
      if (body && typeof (body as Readable).pipe === 'function') (body as Readable).pipe(req);
      else req.end(body as Buffer | undefined);
    });
  }

  /** Sends a request and parses the JSON answer (undefined for an empty body). */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.stream(method, path, options);
    const data = await readAll(res);
    if (data.length === 0) return undefined as T;
    const type = res.headers['content-type'] ?? '';
    return (type.includes('json') ? JSON.parse(data.toString('utf8')) : data.toString('utf8')) as T;
  }

  /**
   * Upgrades the connection (attach, exec start) and returns the raw socket: the daemon
   * answers 101 and then both sides speak the stream format.
   */
  async hijack(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<{ socket: Socket; head: Buffer; headers: IncomingMessage['headers'] }> {
    const { body, headers } = encodeBody(options.body, {
      Connection: 'Upgrade',
      Upgrade: 'tcp',
      ...options.headers,
    });
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.socketPath,
        method,
        path: this.path(path, options.query),
        headers,
      });
      req.on('upgrade', (res, socket, head) => resolve({ socket, head, headers: res.headers }));
      req.on('response', (res) => {
        readAll(res).then((data) => reject(new ApiError(res.statusCode ?? 500, errorMessage(data))), reject);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES')
          reject(new DaemonUnreachableError(this.socketPath, { cause: err }));
        else reject(err);
      });
      req.end(body as Buffer | undefined);
    });
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
  if (Buffer.isBuffer(body) || typeof (body as Readable).pipe === 'function') {
    return { body, headers: { 'Content-Type': 'application/x-tar', ...headers } };
  }
  return {
    body: Buffer.from(JSON.stringify(body)),
    headers: { 'Content-Type': 'application/json', ...headers },
  };
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

import { spawn } from 'node:child_process';
import { type RequestOptions as HttpRequestOptions, type IncomingMessage, request } from 'node:http';
import { createRequire } from 'node:module';
import { type Socket, isIP, connect as netConnect } from 'node:net';
import { Duplex, type Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
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

/** Client TLS, as the docker CLI's `--tls*` flags, `DOCKER_TLS_VERIFY` or a context give it. */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** False for `--tls` without `--tlsverify`: the daemon's certificate is not checked. */
  verify: boolean;
}

/** Where the daemon answers: a unix socket, TCP (with or without TLS), or `ssh://` to a host running tsctr. */
export type Endpoint =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number; tls?: TlsMaterial }
  | { kind: 'ssh'; host: string; user?: string; port?: number };

/**
 * Parses a Docker host (`-H`, `DOCKER_HOST`, a context's endpoint): `unix:///path`, `/path`,
 * `tcp://host[:port]` (2375, or 2376 with TLS, as the docker CLI defaults) and
 * `ssh://[user@]host[:port]`.
 */
export function parseHost(host: string | undefined, tls?: TlsMaterial): Endpoint {
  if (host === undefined || host === '') return { kind: 'unix', path: DEFAULT_SOCKET };
  if (host.startsWith('unix://'))
    return { kind: 'unix', path: host.slice('unix://'.length) || DEFAULT_SOCKET };
  if (host.startsWith('/')) return { kind: 'unix', path: host };
  const m = /^(tcp|http|https|ssh):\/\/(?:([^@/]*)@)?(\[[^\]]*\]|[^:/]*)(?::(\d+))?\/?$/.exec(host);
  if (!m) throw new Error(`unable to parse docker host \`${host}\``);
  const [, scheme, user, hostname = '', port] = m;
  const name = hostname.replace(/^\[(.*)\]$/, '$1');
  if (scheme === 'ssh') {
    if (name === '') throw new Error(`invalid SSH URL ${JSON.stringify(host)}: no host specified`);
    return { kind: 'ssh', host: name, ...(user ? { user } : {}), ...(port ? { port: Number(port) } : {}) };
  }
  return {
    kind: 'tcp',
    host: name || 'localhost',
    port: port ? Number(port) : tls ? 2376 : 2375,
    ...(tls ? { tls } : {}),
  };
}

/** The endpoint written back as a Docker host URL, for messages and `context ls`. */
export function hostUrl(endpoint: Endpoint): string {
  switch (endpoint.kind) {
    case 'unix':
      return `unix://${endpoint.path}`;
    case 'tcp':
      return `tcp://${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
    case 'ssh':
      return `ssh://${endpoint.user ? `${endpoint.user}@` : ''}${endpoint.host}${endpoint.port ? `:${endpoint.port}` : ''}`;
  }
}

/** Resolves `-H`/`DOCKER_HOST` (`unix:///path`) to a socket path; other endpoints go through parseHost. */
export function socketPathFromHost(host: string | undefined): string {
  const endpoint = parseHost(host);
  if (endpoint.kind !== 'unix') throw new Error(`${hostUrl(endpoint)} is not a unix socket`);
  return endpoint.path;
}

/**
 * The command that reaches the daemon of an `ssh://` host, as the docker CLI runs
 * `ssh … docker system dial-stdio`: the remote `tsctr` relays stdin/stdout to its daemon.
 */
export function sshCommand(endpoint: Extract<Endpoint, { kind: 'ssh' }>, program = 'tsctr'): string[] {
  return [
    'ssh',
    '-o',
    'ConnectTimeout=30',
    '-T',
    ...(endpoint.user ? ['-l', endpoint.user] : []),
    ...(endpoint.port ? ['-p', String(endpoint.port)] : []),
    '--',
    endpoint.host,
    program,
    'system',
    'dial-stdio',
  ];
}

/** One connection over ssh: the child's stdout/stdin as a duplex; ssh's complaint becomes the error. */
function sshConnection(endpoint: Extract<Endpoint, { kind: 'ssh' }>): Duplex {
  const [cmd, ...args] = sshCommand(endpoint);
  const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const duplex = Duplex.from({ readable: child.stdout, writable: child.stdin });
  child.once('error', (err) => duplex.destroy(err));
  child.once('exit', (code) => {
    if (code !== 0 && code !== null && !duplex.destroyed)
      duplex.destroy(new Error(`ssh exited with status ${code}: ${stderr.trim() || 'no output'}`));
  });
  duplex.once('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return duplex;
}

/** node:tls is loaded only for a TLS endpoint: every other command would pay its start-up (~4 ms). */
function tlsConnect(options: ConnectionOptions): Duplex {
  const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
  return tls.connect(options);
}

/** Opens a raw connection to the daemon (also what `tsctr system dial-stdio` relays). */
export function connectEndpoint(endpoint: Endpoint): Duplex {
  switch (endpoint.kind) {
    case 'unix':
      return netConnect(endpoint.path);
    case 'tcp':
      return endpoint.tls
        ? tlsConnect(tlsOptions(endpoint, endpoint.tls))
        : netConnect(endpoint.port, endpoint.host);
    case 'ssh':
      return sshConnection(endpoint);
  }
}

function tlsOptions(endpoint: { host: string; port: number }, tls: TlsMaterial): ConnectionOptions {
  return {
    host: endpoint.host,
    port: endpoint.port,
    ...(isIP(endpoint.host) ? {} : { servername: endpoint.host }),
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
    rejectUnauthorized: tls.verify,
  };
}

function httpOptions(endpoint: Endpoint): HttpRequestOptions {
  switch (endpoint.kind) {
    case 'unix':
      return { socketPath: endpoint.path };
    case 'tcp':
      return endpoint.tls
        ? {
            host: endpoint.host,
            port: endpoint.port,
            createConnection: () => connectEndpoint(endpoint) as Socket,
          }
        : { host: endpoint.host, port: endpoint.port, agent: false };
    case 'ssh':
      // The remote end talks to its local socket: the Host header only has to be valid.
      return { host: 'api.moby.localhost', createConnection: () => connectEndpoint(endpoint) as Socket };
  }
}

/** TLS failures in Go's words (what docker users search for), else Node's message. */
function tlsMessage(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  const alert = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(.+)$/.exec(code);
  if (alert) return `remote error: tls: ${alert[1]!.toLowerCase().replace(/_/g, ' ')}`;
  if (
    [
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    ].includes(code)
  )
    return `tls: failed to verify certificate: x509: certificate signed by unknown authority (${err.message})`;
  return err.message;
}

/**
 * Connection errors of an endpoint, as the docker CLI words them: unreachable and permission
 * denied are typed; others read `error during connect: Get "https://host:port/v1.xx/path": why`.
 */
export function connectError(
  endpoint: Endpoint,
  err: NodeJS.ErrnoException,
  request?: { method: string; path: string },
): Error {
  if (err.code === 'EACCES' || err.code === 'EPERM')
    return new DaemonUnreachableError(hostUrl(endpoint), { cause: err, reason: 'permission' });
  if (['ENOENT', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTSOCK'].includes(err.code ?? ''))
    return new DaemonUnreachableError(hostUrl(endpoint), { cause: err });
  const base =
    endpoint.kind === 'unix'
      ? `http://${encodeURIComponent(endpoint.path)}`
      : endpoint.kind === 'tcp'
        ? `${endpoint.tls ? 'https' : 'http'}://${hostUrl(endpoint).slice('tcp://'.length)}`
        : 'http://docker.example.com';
  const op = request
    ? `${request.method[0]}${request.method.slice(1).toLowerCase()} "${base}${request.path}": `
    : `${hostUrl(endpoint)}: `;
  return new Error(`error during connect: ${op}${tlsMessage(err)}`, { cause: err });
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

  /** Sends a request and returns the raw response, throwing ApiError for 4xx/5xx. */
  async stream(method: string, path: string, options: RequestOptions = {}): Promise<IncomingMessage> {
    const { body, headers } = encodeBody(options.body, options.headers);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          ...httpOptions(this.endpoint),
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
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(connectError(this.endpoint, err, { method, path: this.path(path, options.query) })),
      );
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
        ...httpOptions(this.endpoint),
        method,
        path: this.path(path, options.query),
        headers,
      });
      req.on('upgrade', (res, socket, head) => resolve({ socket, head, headers: res.headers }));
      req.on('response', (res) => {
        readAll(res).then((data) => reject(new ApiError(res.statusCode ?? 500, errorMessage(data))), reject);
      });
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(connectError(this.endpoint, err, { method, path: this.path(path, options.query) })),
      );
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

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { type Socket, isIP, connect as netConnect } from 'node:net';
import { Duplex } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { DaemonUnreachableError } from './errors.js';

/**
 * Where the daemon answers and how to open a connection to it. Only node:net, node:tls and
 * node:child_process are used, through the few calls Node and Bun implement alike (connect,
 * write, end, destroy, the data/end/close/error events): the HTTP on top is ours (http1.ts), so
 * a compiled Bun binary and the Node bundle speak to every kind of host the same way.
 */

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
  // A Duplex of our own rather than Duplex.from: destroying that one before its readable side
  // ends emits an AbortError, and a request is done with the connection before ssh exits.
  const duplex = new Duplex({
    read: () => {
      child.stdout.resume();
    },
    write: (chunk, _enc, cb) => {
      child.stdin.write(chunk, cb);
    },
    final: (cb) => {
      child.stdin.end(cb);
    },
    destroy: (err, cb) => {
      if (child.exitCode === null) child.kill();
      cb(err);
    },
  });
  child.stdout.on('data', (c: Buffer) => {
    if (!duplex.push(c)) child.stdout.pause();
  });
  child.stdin.on('error', (err) => duplex.destroy(err));
  child.once('error', (err) => duplex.destroy(err));
  // 'close' comes after both the exit and the end of stdout: ssh's own failure wins over an EOF.
  child.once('close', (code) => {
    if (duplex.destroyed) return;
    if (code === 0 || code === null) duplex.push(null);
    else duplex.destroy(new Error(`ssh exited with status ${code}: ${stderr.trim() || 'no output'}`));
  });
  return duplex;
}

/** node:tls is loaded only for a TLS endpoint: every other command would pay its start-up (~4 ms). */
function tlsConnect(options: ConnectionOptions): Socket {
  const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
  return tls.connect(options);
}

/** Opens a raw connection to the daemon, at once (it may not be connected yet). */
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

/**
 * A connection to the daemon once it is open (TLS: once the handshake is done; ssh: once the
 * child runs, its failures arrive later as errors of the stream), or the connect error in the
 * docker CLI's words. What `tsctr system dial-stdio` relays, and what each request writes to.
 */
export function openConnection(
  endpoint: Endpoint,
  request?: { method: string; path: string },
): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let conn: Duplex;
    try {
      conn = connectEndpoint(endpoint);
    } catch (err) {
      // Bun checks TLS material (an unreadable CA) in tls.connect itself, Node on the handshake.
      reject(connectError(endpoint, err as Error, request));
      return;
    }
    const onError = (err: Error) => reject(connectError(endpoint, err, request));
    conn.once('error', onError);
    const ready = () => {
      conn.off('error', onError);
      resolve(conn);
    };
    if (endpoint.kind === 'ssh') ready();
    else conn.once(endpoint.kind === 'tcp' && endpoint.tls ? 'secureConnect' : 'connect', ready);
  });
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

/**
 * The error's system code, the same on Node and Bun: Bun names some conditions differently
 * (`ConnectionRefused`, `FailedToOpenSocket`, numeric errnos) or puts the code only in the message.
 */
export function errorCode(err: Error & { code?: unknown; errno?: unknown }): string {
  const code = typeof err.code === 'string' ? err.code : '';
  const aliases: Record<string, string> = {
    ConnectionRefused: 'ECONNREFUSED',
    ConnectionClosed: 'ECONNRESET',
    FailedToOpenSocket: 'ECONNREFUSED',
    ENOTFOUND: 'ENOTFOUND',
  };
  if (aliases[code]) return aliases[code]!;
  if (code !== '' && !/^\d+$/.test(code)) return code;
  const named = /\b(E[A-Z]{3,}|ERR_[A-Z0-9_]+|[A-Z_]*CERT[A-Z_]*)\b/.exec(err.message);
  return named ? named[1]! : code;
}

/** TLS failures in Go's words (what docker users search for), else the runtime's message. */
function tlsMessage(err: Error, code: string): string {
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
    return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
  return err.message;
}

/**
 * Connection errors of an endpoint, as the docker CLI words them: unreachable and permission
 * denied are typed; others read `error during connect: Get "https://host:port/v1.xx/path": why`.
 */
export function connectError(
  endpoint: Endpoint,
  err: Error,
  request?: { method: string; path: string },
): Error {
  const code = errorCode(err);
  if (code === 'EACCES' || code === 'EPERM')
    return new DaemonUnreachableError(hostUrl(endpoint), { cause: err, reason: 'permission' });
  if (['ENOENT', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTSOCK'].includes(code))
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
  return new Error(`error during connect: ${op}${tlsMessage(err, code)}`, { cause: err });
}

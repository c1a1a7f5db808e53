import { readFileSync } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import { dirname } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from '@ts-container/common';
import { type DaemonOptions, type ListenHost, type ServerTls, UsageError } from './daemon-config.js';

/** One open `-H`: what it serves, and how to stop serving it. */
export interface Listener {
  address: string;
  close(): Promise<void>;
}

/** True when something already answers on the socket (another daemon). */
export function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function listen(server: Server, target: Parameters<Server['listen']>[0]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(target, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** systemd's socket activation: LISTEN_FDS sockets from fd 3, meant for this process (LISTEN_PID). */
function activatedFds(host: Extract<ListenHost, { kind: 'fd' }>): number[] {
  const count = Number(process.env.LISTEN_FDS ?? '0');
  const pid = process.env.LISTEN_PID;
  if (!count || (pid !== undefined && Number(pid) !== process.pid))
    throw new UsageError(
      'no sockets found via socket activation: make sure the service was started by systemd',
    );
  const fds = Array.from({ length: count }, (_, i) => 3 + i);
  if (host.fd === undefined) return fds;
  if (!fds.includes(host.fd))
    throw new UsageError(
      `too few socket activated files passed in by systemd: fd://${host.fd} was not passed`,
    );
  return [host.fd];
}

/**
 * Opens every `-H` and hands each accepted connection to the one API server. TCP listeners use
 * TLS when `--tls`/`--tlsverify` is given; `--tlsverify` requires a client certificate signed by
 * the CA (mutual TLS), as dockerd's RequireAndVerifyClientCert. Connections stay half-open as the
 * HTTP server's own would, because a hijacked attach/exec client closes its write side at EOF
 * and still reads the output.
 */
export async function openListeners(
  api: HttpServer,
  options: Pick<DaemonOptions, 'hosts' | 'tls'>,
  logger: Logger & { debug?(msg: string): void },
): Promise<Listener[]> {
  const accept = (socket: Socket) => api.emit('connection', socket);
  const listeners: Listener[] = [];
  try {
    for (const host of options.hosts) listeners.push(...(await openOne(host, options.tls, accept, logger)));
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    throw err;
  }
  return listeners;
}

async function openOne(
  host: ListenHost,
  tls: ServerTls | undefined,
  accept: (socket: Socket) => void,
  logger: Logger & { debug?(msg: string): void },
): Promise<Listener[]> {
  // Stops accepting at once; open connections (attach streams too) are not waited for.
  const closer = (server: Server, after?: () => Promise<void>) => async () => {
    server.close();
    await after?.();
  };
  switch (host.kind) {
    case 'unix': {
      const path = host.path;
      if (await socketAlive(path)) throw new UsageError(`another daemon is already serving ${path}`);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await rm(path, { force: true });
      const server = createServer({ allowHalfOpen: true }, accept);
      // Only root may talk to the daemon: the socket is 0660 root:root.
      const previous = process.umask(0o117);
      try {
        await listen(server, path);
      } finally {
        process.umask(previous);
      }
      await chmod(path, 0o660);
      return [{ address: `unix://${path}`, close: closer(server, () => rm(path, { force: true })) }];
    }
    case 'tcp': {
      const address = `tcp://${host.host.includes(':') ? `[${host.host}]` : host.host}:${host.port}`;
      let server: Server;
      if (tls) {
        const read = (what: string, path: string) => {
          try {
            return readFileSync(path);
          } catch (err) {
            throw new UsageError(`could not load ${what} for ${address}: ${(err as Error).message}`);
          }
        };
        server = createTlsServer(
          {
            allowHalfOpen: true,
            cert: read('the TLS certificate (--tlscert)', tls.cert),
            key: read('the TLS key (--tlskey)', tls.key),
            ...(tls.ca ? { ca: read('the CA (--tlscacert)', tls.ca) } : {}),
            requestCert: tls.verify,
            rejectUnauthorized: tls.verify,
            minVersion: 'TLSv1.2',
          },
          accept,
        );
        server.on('tlsClientError', (err, socket) => {
          logger.debug?.(`${address}: TLS handshake with ${socket.remoteAddress} failed: ${err.message}`);
        });
      } else {
        server = createServer({ allowHalfOpen: true }, accept);
      }
      await listen(server, { host: host.host, port: host.port });
      return [
        {
          address: `${address}${tls ? (tls.verify ? ' (mutual TLS)' : ' (TLS)') : ''}`,
          close: closer(server),
        },
      ];
    }
    case 'fd': {
      const out: Listener[] = [];
      for (const fd of activatedFds(host)) {
        const server = createServer({ allowHalfOpen: true }, accept);
        await listen(server, { fd });
        out.push({ address: `fd://${fd}`, close: closer(server) });
      }
      return out;
    }
  }
}

import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import type { Logger } from '@ts-container/common';

export interface ProxyTarget {
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

interface Listener {
  close(): Promise<void>;
}

/** How long a UDP "connection" (client address → container) stays open without traffic. */
const UDP_IDLE_MS = 60_000;

/**
 * The in-process equivalent of Docker's docker-proxy: one listener per published port, all in the
 * daemon. It serves what kernel DNAT cannot (connections to 127.0.0.1, IPv6 host addresses, and
 * containers reaching published ports through the host), and holding the socket also reserves the port.
 */
export class UserlandProxy {
  private readonly listeners = new Map<string, Listener>();

  constructor(private readonly logger?: Logger) {}

  static key(t: { hostIp: string; hostPort: number; protocol: string }): string {
    return `${t.protocol}/${t.hostIp}/${t.hostPort}`;
  }

  has(target: ProxyTarget): boolean {
    return this.listeners.has(UserlandProxy.key(target));
  }

  /** Starts forwarding; rejects with the socket error (EADDRINUSE...) when the port cannot be bound. */
  async add(target: ProxyTarget, forward = true): Promise<void> {
    const key = UserlandProxy.key(target);
    if (this.listeners.has(key)) return;
    const listener =
      target.protocol === 'tcp' ? await this.tcp(target, forward) : await this.udp(target, forward);
    this.listeners.set(key, listener);
  }

  async remove(target: { hostIp: string; hostPort: number; protocol: string }): Promise<void> {
    const key = UserlandProxy.key(target);
    const listener = this.listeners.get(key);
    this.listeners.delete(key);
    await listener?.close();
  }

  async closeAll(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => l.close()));
  }

  private async tcp(target: ProxyTarget, forward: boolean): Promise<Listener> {
    const sockets = new Set<Socket>();
    const server: Server = createServer((client) => {
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      if (!forward) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host: target.containerIp, port: target.containerPort });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      const fail = (err: Error) => {
        this.logger?.debug('userland proxy connection error', { target, error: err.message });
        client.destroy();
        upstream.destroy();
      };
      client.on('error', fail);
      upstream.on('error', fail);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: target.hostIp, port: target.hostPort, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.logger?.warn('userland proxy error', { target, error: err.message }));
    return {
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    };
  }

  private async udp(target: ProxyTarget, forward: boolean): Promise<Listener> {
    const family = target.hostIp.includes(':') ? 'udp6' : 'udp4';
    const front = createSocket({ type: family });
    const flows = new Map<string, { socket: UdpSocket; timer: NodeJS.Timeout }>();
    const closeFlow = (key: string) => {
      const flow = flows.get(key);
      if (!flow) return;
      flows.delete(key);
      clearTimeout(flow.timer);
      flow.socket.close();
    };
    front.on('message', (message, client) => {
      if (!forward) return;
      const key = `${client.address}:${client.port}`;
      let flow = flows.get(key);
      if (!flow) {
        const socket = createSocket('udp4');
        socket.on('message', (reply) => {
          front.send(reply, client.port, client.address);
          const current = flows.get(key);
          if (current) current.timer.refresh();
        });
        socket.on('error', () => closeFlow(key));
        flow = { socket, timer: setTimeout(() => closeFlow(key), UDP_IDLE_MS) };
        flow.timer.unref();
        flows.set(key, flow);
      }
      flow.timer.refresh();
      flow.socket.send(message, target.containerPort, target.containerIp);
    });
    await new Promise<void>((resolve, reject) => {
      front.once('error', reject);
      front.bind({ address: target.hostIp, port: target.hostPort, exclusive: true }, () => {
        front.off('error', reject);
        resolve();
      });
    });
    front.on('error', (err) => this.logger?.warn('userland proxy error', { target, error: err.message }));
    return {
      close: () =>
        new Promise<void>((resolve) => {
          for (const key of [...flows.keys()]) closeFlow(key);
          front.close(() => resolve());
        }),
    };
  }
}

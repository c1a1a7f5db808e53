import { type Socket, createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { type Server, type Socket as TcpSocket, connect, createServer, isIP } from 'node:net';
import type { Logger } from '@ts-container/common';
import { parseIpv6 } from './ipv6.js';

// RFC 1035 constants.
const TYPE_A = 1;
const TYPE_AAAA = 28;
const TYPE_PTR = 12;
const CLASS_IN = 1;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;
/** Docker's embedded DNS answers container names with this TTL. */
const ANSWER_TTL = 600;
const FORWARD_TIMEOUT_MS = 2_000;

export interface DnsQuestion {
  name: string;
  type: number;
  klass: number;
  /** Offset just past the question, where answers start. */
  end: number;
}

/** Reads the first question of a DNS query; undefined for anything malformed or unsupported. */
export function parseQuestion(message: Buffer): DnsQuestion | undefined {
  if (message.length < 12 || message.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const length = message[offset];
    if (length === undefined || length > 63) return undefined; // compression never appears in a query name
    offset += 1;
    if (length === 0) break;
    if (offset + length > message.length) return undefined;
    labels.push(message.toString('latin1', offset, offset + length));
    offset += length;
  }
  if (offset + 4 > message.length) return undefined;
  return {
    name: labels.join('.').toLowerCase(),
    type: message.readUInt16BE(offset),
    klass: message.readUInt16BE(offset + 2),
    end: offset + 4,
  };
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter(Boolean);
  return Buffer.concat([
    ...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])),
    Buffer.from([0]),
  ]);
}

/** Builds a response echoing the query's header and question, with the given answers' RDATA. */
export function buildResponse(
  query: Buffer,
  question: DnsQuestion,
  rcode: number,
  answers: { type: number; data: Buffer }[],
): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  const rd = query.readUInt16BE(2) & 0x0100;
  // QR=1, AA=1, RA=1, keep the client's opcode and RD.
  header.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x7800) | 0x0400 | rd | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const records = answers.map(({ type, data }) => {
    const fixed = Buffer.alloc(12);
    fixed.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    fixed.writeUInt16BE(type, 2);
    fixed.writeUInt16BE(CLASS_IN, 4);
    fixed.writeUInt32BE(ANSWER_TTL, 6);
    fixed.writeUInt16BE(data.length, 10);
    return Buffer.concat([fixed, data]);
  });
  return Buffer.concat([header, query.subarray(12, question.end), ...records]);
}

/** Nameservers of a resolv.conf text, in order. */
export function parseNameservers(resolvConf: string): string[] {
  const servers: string[] = [];
  for (const line of resolvConf.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    if (match?.[1] && isIP(match[1]) !== 0) servers.push(match[1]);
  }
  return servers;
}

export interface DnsServerOptions {
  /** Address in the host namespace to listen on (the network's gateway). */
  address: string;
  port?: number;
  /** Upstream resolvers for names we do not know; default: the host's /etc/resolv.conf. */
  upstreams?: string[];
  resolvConfPath?: string;
  logger?: Logger;
}

/**
 * The embedded DNS of one user-defined network: answers A (and PTR) queries for its containers'
 * names, aliases and short ids from a live table, and forwards everything else upstream.
 * Listens on the network's gateway in the host namespace, so containers use `nameserver <gateway>`.
 */
export class EmbeddedDnsServer {
  private socket: Socket | undefined;
  /** DNS over TCP (RFC 7766): clients retry here when a UDP answer was truncated. */
  private tcpServer: Server | undefined;
  private readonly tcpClients = new Set<TcpSocket>();
  /** lower-case name → addresses */
  private readonly records = new Map<string, string[]>();
  /** container address → upstreams chosen with --dns for that container */
  private readonly clientUpstreams = new Map<string, string[]>();
  /** Per client address: its links' aliases → the linked container's name (Docker's legacy links). */
  private readonly clientLinks = new Map<string, Map<string, string>>();
  private defaultUpstreams: string[] = [];

  constructor(private readonly options: DnsServerOptions) {}

  get address(): string {
    return this.options.address;
  }

  async start(): Promise<void> {
    this.defaultUpstreams = this.options.upstreams ?? (await this.hostUpstreams());
    const socket = createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: this.options.address, port: this.options.port ?? 53, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => this.options.logger?.warn('dns server error', { error: err.message }));
    socket.on('message', (message, remote) => {
      this.answer(message, remote.address, 'udp')
        .then((response) => {
          if (response) socket.send(response, remote.port, remote.address);
        })
        .catch((err: Error) => this.options.logger?.debug('dns query failed', { error: err.message }));
    });
    this.socket = socket;
    try {
      this.tcpServer = await this.startTcp(socket.address().port);
    } catch (err) {
      this.options.logger?.warn('dns server: TCP listener failed, serving UDP only', {
        error: (err as Error).message,
      });
    }
  }

  private async startTcp(port: number): Promise<Server> {
    const server = createServer((client) => {
      this.tcpClients.add(client);
      client.on('close', () => this.tcpClients.delete(client));
      client.on('error', () => client.destroy());
      client.setTimeout(10_000, () => client.destroy());
      let buffered = Buffer.alloc(0);
      client.on('data', (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        // Each message is prefixed with its 16-bit length.
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          const message = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
          buffered = buffered.subarray(2 + message.length);
          this.answer(message, client.remoteAddress ?? '', 'tcp')
            .then((response) => {
              if (response && !client.destroyed) client.write(withLength(response));
            })
            .catch(() => client.destroy());
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.options.address, port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  /** The bound port (useful when started with port 0). */
  get port(): number | undefined {
    return this.socket?.address().port;
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    const tcp = this.tcpServer;
    this.socket = undefined;
    this.tcpServer = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    for (const client of this.tcpClients) client.destroy();
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  /** Adds `address` under each name (names are case-insensitive, as in DNS). */
  addRecords(names: readonly string[], address: string, upstreams: readonly string[] = []): void {
    for (const name of names) {
      const key = name.toLowerCase();
      const existing = this.records.get(key) ?? [];
      if (!existing.includes(address)) this.records.set(key, [...existing, address]);
    }
    if (upstreams.length > 0) this.clientUpstreams.set(address, [...upstreams]);
  }

  /** Names only the client at `address` resolves: each alias stands for the name it maps to. */
  setLinks(address: string, aliases: ReadonlyMap<string, string>): void {
    if (aliases.size === 0) this.clientLinks.delete(address);
    else this.clientLinks.set(address, new Map(aliases));
  }

  /** Removes `address` from every name it was listed under. */
  removeAddress(address: string): void {
    for (const [name, addresses] of this.records) {
      const left = addresses.filter((a) => a !== address);
      if (left.length === 0) this.records.delete(name);
      else this.records.set(name, left);
    }
    this.clientUpstreams.delete(address);
    this.clientLinks.delete(address);
  }

  lookup(name: string): string[] {
    return this.records.get(name.toLowerCase().replace(/\.$/, '')) ?? [];
  }

  private async hostUpstreams(): Promise<string[]> {
    try {
      const servers = parseNameservers(
        await readFile(this.options.resolvConfPath ?? '/etc/resolv.conf', 'utf8'),
      );
      return servers.filter((s) => s !== this.options.address);
    } catch {
      return [];
    }
  }

  /** The response to one query, or undefined when it should be ignored. */
  private async answer(
    message: Buffer,
    client: string,
    transport: 'udp' | 'tcp',
  ): Promise<Buffer | undefined> {
    const question = parseQuestion(message);
    if (!question || question.klass !== CLASS_IN) return undefined;

    // The linked container is looked up at query time: it may start after the one linking to it.
    const clientAddress = client.replace(/^::ffff:/, '');
    const linked = this.clientLinks.get(clientAddress)?.get(question.name.replace(/\.$/, ''));
    const addresses = this.lookup(linked ?? question.name);
    if (addresses.length > 0) {
      // A known container name: answer A; other types get an empty NOERROR answer (like Docker),
      // so clients do not go on to ask the upstream resolvers about a local name.
      const answers =
        question.type === TYPE_A
          ? addresses
              .filter((a) => isIP(a) === 4)
              .map((a) => ({ type: TYPE_A, data: Buffer.from(a.split('.').map(Number)) }))
          : question.type === TYPE_AAAA
            ? addresses
                .map((a) => (isIP(a) === 6 ? parseIpv6(a) : undefined))
                .filter((a) => a !== undefined)
                .map((a) => ({ type: TYPE_AAAA, data: ipv6Bytes(a) }))
            : [];
      return buildResponse(message, question, 0, answers);
    }
    if (question.type === TYPE_PTR) {
      const name = this.reverseLookup(question.name);
      if (name) return buildResponse(message, question, 0, [{ type: TYPE_PTR, data: encodeName(name) }]);
    }
    const upstreams = this.clientUpstreams.get(clientAddress) ?? this.defaultUpstreams;
    for (const upstream of upstreams) {
      const response =
        transport === 'udp' ? await forwardUdp(message, upstream) : await forwardTcp(message, upstream);
      if (response) return response;
    }
    return buildResponse(message, question, upstreams.length === 0 ? RCODE_NXDOMAIN : RCODE_SERVFAIL, []);
  }

  private reverseLookup(name: string): string | undefined {
    const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr\.arpa$/.exec(name);
    if (!match) return undefined;
    const address = [match[4], match[3], match[2], match[1]].join('.');
    for (const [recordName, addresses] of this.records) {
      if (addresses.includes(address)) return recordName;
    }
    return undefined;
  }
}

function ipv6Bytes(value: bigint): Buffer {
  const out = Buffer.alloc(16);
  out.writeBigUInt64BE(value >> 64n, 0);
  out.writeBigUInt64BE(value & 0xffffffffffffffffn, 8);
  return out;
}

function withLength(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length, 0);
  return Buffer.concat([length, message]);
}

/** Sends a query to one upstream resolver and returns its reply, or undefined on timeout/error. */
function forwardUdp(message: Buffer, upstream: string): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket(isIP(upstream) === 6 ? 'udp6' : 'udp4');
    const done = (value: Buffer | undefined) => {
      clearTimeout(timer);
      socket.close();
      resolve(value);
    };
    const timer = setTimeout(() => done(undefined), FORWARD_TIMEOUT_MS);
    socket.on('error', () => done(undefined));
    socket.on('message', (response) => {
      if (response.length >= 2 && response.readUInt16BE(0) === message.readUInt16BE(0)) done(response);
    });
    socket.send(message, 53, upstream);
  });
}

/** Forwards a query over TCP (for clients that came over TCP, typically after a truncated UDP answer). */
function forwardTcp(message: Buffer, upstream: string): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: upstream, port: 53 });
    let buffered = Buffer.alloc(0);
    const done = (value: Buffer | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(undefined), FORWARD_TIMEOUT_MS);
    socket.on('error', () => done(undefined));
    socket.on('connect', () => socket.write(withLength(message)));
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        done(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      }
    });
    socket.on('end', () => done(undefined));
  });
}

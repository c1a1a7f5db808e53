import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedDnsServer, parseQuestion } from './dns-server.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('DNS forwarding test skipped: its fake upstream binds port 53, which needs root');

function query(name: string, type: number, id = 0x1234): Buffer {
  const header = Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  return Buffer.concat([header, ...labels, Buffer.from([0, type >> 8, type & 255, 0, 1])]);
}

async function ask(port: number, message: Buffer): Promise<Buffer> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no DNS answer')), 5000);
      socket.on('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      socket.send(message, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

const rcode = (m: Buffer) => m.readUInt16BE(2) & 0xf;
const answers = (m: Buffer) => m.readUInt16BE(6);

describe('EmbeddedDnsServer', () => {
  const servers: EmbeddedDnsServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
  });

  async function start(upstreams: string[] = []) {
    const server = new EmbeddedDnsServer({ address: '127.0.0.1', port: 0, upstreams });
    await server.start();
    servers.push(server);
    return server;
  }

  it('answers A queries for names, case-insensitively, with the last 4 bytes the address', async () => {
    const server = await start();
    server.addRecords(['web', 'alias'], '172.18.0.2');
    const reply = await ask(server.port as number, query('WEB', 1));
    expect(reply.readUInt16BE(0)).toBe(0x1234);
    expect(rcode(reply)).toBe(0);
    expect(answers(reply)).toBe(1);
    expect([...reply.subarray(-4)]).toEqual([172, 18, 0, 2]);
    expect(parseQuestion(query('a.b', 1))?.name).toBe('a.b');
  });

  it('resolves a link alias only for the client that holds the link, looked up at query time', async () => {
    const server = await start();
    // The client (127.0.0.1 here) links to `upstream` as `bar` before `upstream` exists.
    server.setLinks('127.0.0.1', new Map([['bar', 'upstream']]));
    expect(rcode(await ask(server.port as number, query('bar', 1)))).toBe(3);
    server.addRecords(['upstream'], '172.18.0.9');
    const reply = await ask(server.port as number, query('bar', 1));
    expect(answers(reply)).toBe(1);
    expect([...reply.subarray(-4)]).toEqual([172, 18, 0, 9]);
    server.setLinks('127.0.0.2', new Map([['bar', 'upstream']]));
    server.removeAddress('127.0.0.1');
    expect(rcode(await ask(server.port as number, query('bar', 1)))).toBe(3);
  });

  it('answers AAAA for a known name with no records, and PTR with the name', async () => {
    const server = await start();
    server.addRecords(['web'], '172.18.0.2');
    const aaaa = await ask(server.port as number, query('web', 28));
    expect(rcode(aaaa)).toBe(0);
    expect(answers(aaaa)).toBe(0);
    const ptr = await ask(server.port as number, query('2.0.18.172.in-addr.arpa', 12));
    expect(answers(ptr)).toBe(1);
    expect(ptr.includes(Buffer.from('\x03web\x00', 'latin1'))).toBe(true);
  });

  it('answers AAAA with the IPv6 address of a container on an IPv6 network, A with its IPv4 one', async () => {
    const server = await start();
    server.addRecords(['web6'], '172.18.0.3');
    server.addRecords(['web6'], '2001:db8::f00d');
    const aaaa = await ask(server.port as number, query('web6', 28));
    expect(answers(aaaa)).toBe(1);
    expect(aaaa.subarray(-16).toString('hex')).toBe('20010db80000000000000000' + '0000f00d');
    const a = await ask(server.port as number, query('web6', 1));
    expect(answers(a)).toBe(1);
    expect([...a.subarray(-4)]).toEqual([172, 18, 0, 3]);
  });

  // Port 53 is privileged: as non-root the bind never completes (an error event, no callback).
  it.skipIf(!isRoot)('forgets removed containers and forwards unknown names upstream', async () => {
    // A fake upstream resolver on another loopback address, port 53, as forwarding uses.
    const upstreamAddress = `127.0.0.${100 + (process.pid % 150)}`;
    const upstream = createSocket('udp4');
    upstream.on('message', (m, remote) => {
      const reply = Buffer.from(m);
      reply.writeUInt16BE(0x8183, 2); // QR + NXDOMAIN, to prove the upstream's answer is relayed
      upstream.send(reply, remote.port, remote.address);
    });
    await new Promise<void>((resolve) => upstream.bind(53, upstreamAddress, resolve));
    try {
      const server = await start([upstreamAddress]);
      server.addRecords(['web'], '172.18.0.2');
      server.removeAddress('172.18.0.2');
      const reply = await ask(server.port as number, query('web', 1, 0x4321));
      expect(reply.readUInt16BE(0)).toBe(0x4321);
      expect(reply.readUInt16BE(2)).toBe(0x8183);
    } finally {
      upstream.close();
    }
  });

  it('answers over TCP with length-prefixed messages', async () => {
    const server = await start();
    server.addRecords(['web'], '172.18.0.9');
    const message = query('web', 1, 0x7777);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: server.port as number });
      let data = Buffer.alloc(0);
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        data = Buffer.concat([data, chunk]);
        if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
          socket.destroy();
          resolve(data.subarray(2));
        }
      });
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length, 0);
      socket.write(Buffer.concat([length, message]));
    });
    expect(reply.readUInt16BE(0)).toBe(0x7777);
    expect([...reply.subarray(-4)]).toEqual([172, 18, 0, 9]);
  });

  it('without upstreams unknown names are NXDOMAIN', async () => {
    const server = await start([]);
    expect(rcode(await ask(server.port as number, query('nothing.example', 1)))).toBe(3);
  });
});

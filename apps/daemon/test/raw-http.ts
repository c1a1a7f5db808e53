import { readFile, readdir, readlink } from 'node:fs/promises';
import { type Socket, connect } from 'node:net';

/**
 * HTTP on the daemon's socket by hand: the tests here cut connections at chosen moments and
 * read hijacked streams byte by byte, which a client library hides.
 */
export function rawRequest(
  socketPath: string,
  method: string,
  path: string,
  options: { body?: unknown; upgrade?: boolean; tar?: Buffer } = {},
): Socket {
  const body: Buffer =
    options.tar ?? Buffer.from(options.body === undefined ? '' : JSON.stringify(options.body));
  const type = options.tar ? 'application/x-tar' : 'application/json';
  const socket = connect(socketPath);
  // The tests end connections rudely on purpose; what matters is the daemon's side.
  socket.on('error', () => undefined);
  socket.write(
    `${method} ${path} HTTP/1.1\r\nHost: docker\r\n` +
      (options.upgrade ? 'Connection: Upgrade\r\nUpgrade: tcp\r\n' : '') +
      (body.length ? `Content-Type: ${type}\r\nContent-Length: ${body.length}\r\n` : '') +
      '\r\n',
  );
  if (body.length) socket.write(body);
  return socket;
}

/** Reads the response head; resolves with the status and what already came after it. */
export function readHead(socket: Socket): Promise<{ status: number; head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      const head = buf.subarray(0, end).toString();
      resolve({ status: Number(head.split(' ')[1]), head, rest: buf.subarray(end + 4) });
    };
    const onEnd = () => reject(new Error(`connection ended before a response: ${buf.toString()}`));
    socket.on('data', onData);
    socket.once('end', onEnd);
  });
}

/** Everything the peer sends until it ends the connection (or `ms` pass). */
export function readAll(socket: Socket, first: Buffer = Buffer.alloc(0), ms = 20_000): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks = [first];
    const done = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', done);
    socket.once('close', done);
    socket.resume();
  });
}

/** Splits Docker's multiplexed stream into `[stream, text]` frames. */
export function frames(buf: Buffer): [number, string][] {
  const out: [number, string][] = [];
  for (let i = 0; i + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(i + 4);
    out.push([buf[i]!, buf.subarray(i + 8, i + 8 + size).toString()]);
    i += 8 + size;
  }
  return out;
}

/** A JSON request/response on the daemon's socket. */
export async function api<T = unknown>(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const socket = rawRequest(socketPath, method, path, body === undefined ? {} : { body });
  const { status, head, rest } = await readHead(socket);
  const length = /content-length: (\d+)/i.exec(head)?.[1];
  let data: Buffer = rest;
  if (length !== undefined) {
    while (data.length < Number(length)) {
      data = Buffer.concat([data, await new Promise<Buffer>((r) => socket.once('data', r).resume())]);
    }
  } else if (/transfer-encoding: chunked/i.test(head)) {
    data = dechunk(await readAll(socket, rest, 10_000));
  }
  socket.destroy();
  const text = data.toString();
  return { status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** The data of a complete chunked body. */
export function dechunk(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    const nl = buf.indexOf('\r\n', i);
    if (nl < 0) break;
    const size = Number.parseInt(buf.subarray(i, nl).toString(), 16);
    if (!size) break;
    out.push(buf.subarray(nl + 2, nl + 2 + size));
    i = nl + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** What a process holds open and runs, to compare before and after a test. */
export async function processFootprint(pid: number): Promise<{ fds: number; children: string[] }> {
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  return { fds, children: await descendants(pid) };
}

/** The command lines of every descendant of `pid`. */
async function descendants(pid: number): Promise<string[]> {
  const parents = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!ppid) continue;
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
  }
  const out: string[] = [];
  const walk = async (p: number) => {
    for (const child of parents.get(p) ?? []) {
      const cmd = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
      out.push(`${child} ${cmd.replace(/\0/g, ' ').trim()}`);
      await walk(child);
    }
  };
  await walk(pid);
  return out;
}

/** The daemon's open file descriptors, as the kernel names them (for a readable diff). */
export async function openFds(pid: number): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    out.push(`${fd} ${await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '?')}`);
  }
  return out;
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type EngineErrorKind, errorKind } from '@ts-container/engine';
import { ZodError } from 'zod';

/** moby's errdefs → HTTP status, mapped in one place. */
const STATUS: Record<EngineErrorKind, number> = {
  'not-found': 404,
  'invalid-parameter': 400,
  conflict: 409,
  'not-modified': 304,
  unavailable: 503,
  forbidden: 403,
  unauthorized: 401,
  'not-implemented': 501,
  system: 500,
};

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A connection the client asked to upgrade (attach, exec start): the handler answers on the socket. */
export interface Upgrade {
  socket: Duplex;
  head: Buffer;
  /** Set once `101 UPGRADED` is sent: from then on the socket carries the stream, not an HTTP answer. */
  hijacked?: boolean;
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  upgrade?: Upgrade;
  params: Record<string, string>;
  query: URLSearchParams;
  version: string;
}

export type Handler = (ctx: RequestContext) => Promise<void>;

export function statusFor(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof ZodError) return 400;
  return STATUS[errorKind(err)];
}

export function messageFor(err: unknown): string {
  if (err instanceof ZodError) {
    return err.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
  }
  return err instanceof Error ? err.message : String(err);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(data);
}

/**
 * Takes over the connection for a stream: `101 UPGRADED` when the client asked to upgrade (as
 * the docker CLI does), else a 200 whose body is the stream.
 */
export function hijack(
  ctx: Pick<RequestContext, 'res' | 'upgrade'>,
  contentType: string,
): Duplex | ServerResponse {
  if (ctx.upgrade) {
    ctx.upgrade.socket.write(
      `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
    );
    ctx.upgrade.hijacked = true;
    return ctx.upgrade.socket;
  }
  ctx.res.writeHead(200, { 'Content-Type': contentType });
  ctx.res.flushHeaders();
  return ctx.res;
}

/** Whether a response or socket can still take data (the client has not gone, nor has it been ended). */
export function writable(out: NodeJS.WritableStream | Duplex | ServerResponse): boolean {
  const s = out as { writableEnded?: boolean; destroyed?: boolean };
  return !s.writableEnded && !s.destroyed;
}

/**
 * Writes one chunk of a stream and waits while the client is slow to read; resolves false
 * (without writing) once the client has gone, so a producer stops instead of waiting forever.
 */
export async function writeChunk(out: Duplex | ServerResponse, chunk: Buffer | string): Promise<boolean> {
  if (!writable(out)) return false;
  if (out.write(chunk)) return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    out.on('drain', onDrain);
    out.on('close', onClose);
  });
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `invalid JSON: ${(err as Error).message}`);
  }
}

/** Docker's boolean query values: 1/true/True are true, absent/0/false are false. */
export function boolParam(query: URLSearchParams, name: string, fallback = false): boolean {
  const v = query.get(name);
  if (v === null || v === '') return fallback;
  return !['0', 'false', 'False', 'no'].includes(v);
}

export function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new HttpError(400, `invalid value for ${name}: ${JSON.stringify(v)}`);
  return n;
}

/** `filters={"status":["running"]}` (also the legacy `{"status":{"running":true}}` form). */
export function filtersParam(query: URLSearchParams): Map<string, string[]> {
  const raw = query.get('filters');
  const out = new Map<string, string[]>();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new HttpError(400, `invalid filter: ${raw}`);
  }
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    out.set(k, Array.isArray(v) ? v.map(String) : Object.keys(v as object));
  }
  return out;
}

import { type IncomingHttpHeaders, type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  /** Accept any TLS certificate (insecure registries only). */
  insecureTls?: boolean;
  ca?: Buffer[];
  /** Client certificate and key (PEM) for mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
  timeoutMs?: number;
}

/** One HTTP(S) request with node's own client; the body is left to the caller to read. */
export function send(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        timeout: options.timeoutMs ?? 30_000,
        ...(u.protocol === 'https:'
          ? {
              rejectUnauthorized: !options.insecureTls,
              ...(options.ca ? { ca: options.ca } : {}),
              ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
            }
          : {}),
      },
      (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${options.timeoutMs ?? 30_000}ms`)));
    req.on('error', reject);
    const body = options.body;
    if (body && !Buffer.isBuffer(body)) body.pipe(req);
    else req.end(body);
  });
}

export async function readBody(res: HttpResponse, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    size += (c as Buffer).length;
    if (size > limit) throw new Error(`response larger than ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export function drain(res: HttpResponse): void {
  res.body.resume();
}

import { type OutgoingHttpHeader, type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { API_VERSION } from '@ts-container/api';

/** What every answer carries, first, as dockerd's version middleware sets them. */
export const COMMON_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Api-Version', API_VERSION],
  ['Ostype', 'linux'],
  ['Server', `tsctr/${API_VERSION}`],
];
const COMMON_NAMES = COMMON_HEADERS.map(([name]) => name.toLowerCase());

type HeaderValue = OutgoingHttpHeader;

/**
 * The common headers, then `given`'s in their order, as one flat `[name, value, …]` list: a
 * given value for a common header takes its place (and spelling).
 */
export function withCommonHeaders(given: OutgoingHttpHeaders | undefined): HeaderValue[] {
  const list: HeaderValue[] = [];
  for (const [n, v] of COMMON_HEADERS) list.push(n, v);
  if (given) {
    for (const name in given) {
      // An undefined value stays in: node refuses it, as it does on the slow path.
      const value = given[name] as HeaderValue;
      const common = COMMON_NAMES.indexOf(name.toLowerCase());
      if (common < 0) list.push(name, value);
      else {
        list[common * 2] = name;
        list[common * 2 + 1] = value;
      }
    }
  }
  return list;
}

/**
 * The API's response: the common headers go first on every answer. Setting them up front with
 * `setHeader` made every `writeHead` take node's slow path (a validated `setHeader` per header);
 * added here instead, a response written with `writeHead` alone keeps the fast path and the same
 * bytes: common headers first, a handler's own value for one of them in its place.
 */
export class ApiResponse extends ServerResponse {
  /** Set once a header went through `setHeader`: node then keeps them, the common ones first. */
  private progressive = false;

  override setHeader(name: string, value: number | string | readonly string[]): this {
    if (!this.progressive) {
      this.progressive = true;
      for (const [n, v] of COMMON_HEADERS) super.setHeader(n, v);
    }
    return super.setHeader(name, value);
  }

  override writeHead(
    statusCode: number,
    reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    const [message, given] = typeof reason === 'string' ? [reason, headers] : [undefined, reason];
    if (this.progressive || Array.isArray(given)) {
      if (!this.progressive) this.setHeader(COMMON_HEADERS[0]![0], COMMON_HEADERS[0]![1]);
      return message === undefined
        ? super.writeHead(statusCode, given)
        : super.writeHead(statusCode, message, given);
    }
    const list = withCommonHeaders(given);
    // node's own types miss the flat [name, value, …] form its writeHead takes.
    const flat = list as unknown as OutgoingHttpHeaders;
    return message === undefined
      ? super.writeHead(statusCode, flat)
      : super.writeHead(statusCode, message, flat);
  }
}

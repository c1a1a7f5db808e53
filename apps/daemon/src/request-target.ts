import { HttpError } from './http.js';

/** A request's path and query, as the handlers see them. */
export interface RequestTarget {
  pathname: string;
  query: URLSearchParams;
}

/**
 * Paths WHATWG URL parsing leaves byte for byte: no `//` start (a host), no backslash, no dot
 * segment (`.`, `..`, or spelled `%2e`), only characters it does not percent-encode.
 */
const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;
const DOT_SEGMENT = /\/(?:\.|%2e)(?:\.|%2e)?(?:\/|$)/i;
/**
 * Query strings whose parameters read the same raw as through URL: printable ASCII, no fragment,
 * and no leading `?` (URLSearchParams would drop it).
 */
const PLAIN_QUERY = /^(?!\?)[\x21-\x22\x24-\x7e]*$/;

/**
 * Splits a request target into path and query as `new URL(target, 'http://localhost')` does,
 * without building a URL for the plain targets clients send (the common case of every call).
 * A target URL parsing refuses is a 400.
 */
export function parseRequestTarget(target: string): RequestTarget {
  const q = target.indexOf('?');
  const pathname = q < 0 ? target : target.slice(0, q);
  const search = q < 0 ? '' : target.slice(q + 1);
  if (PLAIN_PATH.test(pathname) && !DOT_SEGMENT.test(pathname) && PLAIN_QUERY.test(search))
    return { pathname, query: new URLSearchParams(search) };
  let url: URL;
  try {
    url = new URL(target, 'http://localhost');
  } catch (err) {
    // `GET //: HTTP/1.1` is no URL: the client's error, not the daemon's end.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_INVALID_URL') throw err;
    throw new HttpError(400, `invalid request target ${JSON.stringify(target)}`);
  }
  return { pathname: url.pathname, query: url.searchParams };
}

/**
 * The fields of an HTTP/1.1 head, shared by the client (responses, read leniently as Go's client
 * does) and the daemon's lean front (requests, read strictly: anything irregular is left to
 * node:http, which answers it).
 */

export type HeadFields = Record<string, string | string[] | undefined>;

/** RFC 9110 token: a field name. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Printable ASCII and spaces only: no tab, obs-text, or stray CR/LF. */
const PLAIN_VALUE = /^[\x20-\x7e]*$/;

/**
 * Lower-case field names to values. Lenient: lines without a name are skipped, repeats are
 * joined with `, ` (Set-Cookie kept apart). Strict: an irregular line (no colon, a name that is
 * not a token, a value with control or non-ASCII bytes) or a repeated field gives undefined.
 */
export function parseHeadFields(lines: readonly string[], mode: 'lenient'): HeadFields;
export function parseHeadFields(lines: readonly string[], mode: 'strict'): Record<string, string> | undefined;
export function parseHeadFields(
  lines: readonly string[],
  mode: 'lenient' | 'strict',
): HeadFields | undefined {
  const headers: HeadFields = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (mode === 'strict') {
      if (colon <= 0) return undefined;
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      if (!TOKEN.test(name) || !PLAIN_VALUE.test(value)) return undefined;
      const key = name.toLowerCase();
      if (headers[key] !== undefined) return undefined;
      headers[key] = value;
      continue;
    }
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    if (name === 'set-cookie') headers[name] = [...((prev as string[] | undefined) ?? []), value];
    else headers[name] = prev === undefined ? value : `${prev}, ${value}`;
  }
  return headers;
}

export interface RequestHead {
  method: string;
  target: string;
  /** `1.1` or `1.0`. */
  version: string;
  headers: Record<string, string>;
}

const REQUEST_LINE = /^([A-Z]+) ([\x21-\x7e]+) HTTP\/(1\.[01])$/;

/** A request head (without its closing blank line), read strictly; undefined when irregular. */
export function parseRequestHead(block: string): RequestHead | undefined {
  const lines = block.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers = parseHeadFields(lines.slice(1), 'strict');
  return headers && { method: m[1]!, target: m[2]!, version: m[3]!, headers };
}

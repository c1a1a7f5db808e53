/** The Engine API version the daemon speaks (Docker 27's); clients may ask for any from MIN. */
export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';

export function compareApiVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

/** Splits `/v1.45/containers/json` into the version and the unversioned path. */
export function splitVersionedPath(path: string): { version?: string; path: string } {
  const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
  return m ? { version: m[1]!, path: m[2]! } : { path };
}

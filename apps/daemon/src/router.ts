import { type Handler, HttpError } from './http.js';

interface Route {
  /** `GET /containers/{id}/json`: the route as it was added. */
  name: string;
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

/** A path's first segment (`containers` in `/containers/json`): routes are looked up by it. */
function firstSegment(path: string): string {
  const end = path.indexOf('/', 1);
  return end < 0 ? path.slice(1) : path.slice(1, end);
}

/**
 * Routes `/containers/{id}/start`-style paths; `{name*}` matches across slashes (image names).
 * The first route added that matches wins; only the routes whose fixed first segment is the
 * path's are tried (all of them while some route starts with a parameter).
 */
export class Router {
  private readonly routes: Route[] = [];
  private readonly byFirstSegment = new Map<string, Route[]>();
  private anyFirstSegment = false;

  add(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    const pattern = path.replace(/\{(\w+)(\*)?\}/g, (_, key: string, star: string | undefined) => {
      keys.push(key);
      return star ? '(.+?)' : '([^/]+)';
    });
    const route = { name: `${method} ${path}`, method, pattern: new RegExp(`^${pattern}/?$`), keys, handler };
    this.routes.push(route);
    const first = firstSegment(path);
    // A first segment that is a parameter or holds regex syntax may match others: scan all.
    if (!path.startsWith('/') || /[^\w-]/.test(first)) this.anyFirstSegment = true;
    const bucket = this.byFirstSegment.get(first);
    if (bucket) bucket.push(route);
    else this.byFirstSegment.set(first, [route]);
    return this;
  }

  match(
    method: string,
    path: string,
  ): { handler: Handler; params: Record<string, string>; route: string } | 'method-not-allowed' | undefined {
    let pathMatched = false;
    const candidates = this.anyFirstSegment
      ? this.routes
      : (this.byFirstSegment.get(firstSegment(path)) ?? []);
    for (const route of candidates) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((k, i) => {
        params[k] = decodeParam(m[i + 1]!);
      });
      return { handler: route.handler, params, route: route.name };
    }
    return pathMatched ? 'method-not-allowed' : undefined;
  }
}

/** A path segment, percent-decoded; a malformed escape is the client's error (Go's wording). */
function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch (err) {
    if (!(err instanceof URIError)) throw err;
    const bad = /%(?![0-9a-fA-F]{2})..?|%[0-9a-fA-F]{2}/.exec(raw)?.[0] ?? raw;
    throw new HttpError(400, `invalid URL escape ${JSON.stringify(bad)}`);
  }
}

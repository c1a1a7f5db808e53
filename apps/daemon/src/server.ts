import { type IncomingMessage, type Server, ServerResponse, createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { API_VERSION, MIN_API_VERSION, compareApiVersions, splitVersionedPath } from '@ts-container/api';
import type { Logger } from '@ts-container/common';
import type { Engine } from '@ts-container/engine';
import { ApiResponse } from './api-response.js';
import { registerArchiveImages } from './handlers/archive-images.js';
import { registerBuild } from './handlers/build.js';
import { registerChanges } from './handlers/changes.js';
import { registerContainers } from './handlers/containers.js';
import { registerExec } from './handlers/exec.js';
import { registerImages } from './handlers/images.js';
import { registerNetworks } from './handlers/networks.js';
import { registerRegistry } from './handlers/registry.js';
import { registerSwarm } from './handlers/swarm.js';
import { registerSystem } from './handlers/system.js';
import { registerVolumes } from './handlers/volumes.js';
import { HttpError, type Upgrade, messageFor, statusFor, writable } from './http.js';
import { installLeanFront } from './lean-front.js';
import { type RequestTarget, parseRequestTarget } from './request-target.js';
import { Router } from './router.js';

/**
 * Routes whose handlers answer with one `writeHead` and one `end` (`sendJson`), never reading a
 * body or streaming: the lean front may serve them (HEAD too, through the GET route).
 */
const LEAN_ROUTES = new Set([
  'GET /_ping',
  'GET /version',
  'GET /info',
  'GET /containers/json',
  'GET /containers/{id}/json',
  'GET /images/json',
  'GET /images/{name*}/json',
]);

/** A request target as routed: its path and query, API version, and route. */
interface Routed {
  method: string;
  url: string;
  target: RequestTarget;
  version: string | undefined;
  path: string;
  match: ReturnType<Router['match']>;
  /** What the router threw for this path. */
  failure?: unknown;
}

/** The Docker Engine API over the engine: validation and shapes here, behaviour below. */
export function createApiServer(
  engine: Engine,
  logger: Logger & { debug?(msg: string): void },
  options: { logCalls?: boolean } = {},
): Server {
  const router = new Router();
  registerHandlers(router, engine);

  // The lean front's test of the request it then hands on at once: its routing, not done twice.
  let routed: Routed | undefined;
  const route = (method: string, url: string): Routed => {
    const target = parseRequestTarget(url);
    const { version, path } = splitVersionedPath(target.pathname);
    // A path the router refuses (a bad escape) is answered after the version check, as before.
    try {
      return { method, url, target, version, path, match: router.match(method, path) };
    } catch (failure) {
      return { method, url, target, version, path, match: undefined, failure };
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, upgrade?: Upgrade) => {
    let pathname = req.url ?? '/';
    const method = req.method ?? 'GET';
    const pre =
      routed !== undefined && routed.url === pathname && routed.method === method ? routed : undefined;
    routed = undefined;
    try {
      const { target, version, path, match, failure } = pre ?? route(method, pathname);
      pathname = target.pathname;
      // The version a negotiating client (the docker CLI) sends is ours: nothing to compare.
      if (version !== undefined && version !== API_VERSION) {
        if (compareApiVersions(version, API_VERSION) > 0) {
          throw new HttpError(
            400,
            `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`,
          );
        }
        if (compareApiVersions(version, MIN_API_VERSION) < 0) {
          throw new HttpError(
            400,
            `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
          );
        }
      }
      if (failure !== undefined) throw failure;
      if (match === undefined) throw new HttpError(404, 'page not found');
      if (match === 'method-not-allowed')
        throw new HttpError(405, `method ${req.method} not allowed for ${path}`);
      await match.handler({
        req,
        res,
        params: match.params,
        query: target.query,
        version: version ?? API_VERSION,
        ...(upgrade ? { upgrade } : {}),
      });
    } catch (err) {
      const status = statusFor(err);
      if (clientWentAway(req, err)) {
        logger.debug?.(`${req.method} ${pathname}: the client went away (${messageFor(err)})`);
        upgrade?.socket.destroy();
        if (!upgrade) res.destroy();
        return;
      }
      if (status >= 500)
        logger.error(
          `${req.method} ${pathname}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      if (upgrade) {
        // Once hijacked the socket carries the stream (the handler reports on it); before, the
        // error is an ordinary HTTP answer. A client that has gone gets neither.
        if (upgrade.hijacked || !writable(upgrade.socket)) {
          upgrade.socket.destroy();
          return;
        }
        const body = JSON.stringify({ message: messageFor(err) });
        upgrade.socket.end(
          `HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        return;
      }
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (status === 304) {
        res.writeHead(304);
        res.end();
        return;
      }
      const body = Buffer.from(`${JSON.stringify({ message: messageFor(err) })}\n`);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      res.end(body);
    }
  };

  // Debug logging of every call costs a string and a listener per request: only when asked for.
  const logCalls = options.logCalls && logger.debug ? logger.debug : undefined;
  const server = createServer(
    { requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000, ServerResponse: ApiResponse },
    (req, res) => {
      if (logCalls) logCall(req, res, res, logCalls);
      void handle(req, res);
    },
  );
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // The HTTP server lets go of an upgraded socket, its error handling included: a client that
    // resets the connection (closing an attach or exec socket) ends this request only.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      logger.debug?.(`${req.method} ${req.url}: connection ${err.code ?? err.message}`);
      socket.destroy();
    });
    // Upgraded requests answer on the socket itself; this response object is never sent.
    const res = new ServerResponse(req);
    if (logCalls) logCall(req, res, socket, logCalls);
    void handle(req, res, { socket, head });
  });
  const api = server as unknown as Server;
  installLeanFront(api, (method, target) => {
    try {
      const r = route(method, target);
      if (r.failure !== undefined) throw r.failure;
      const lean = typeof r.match === 'object' && LEAN_ROUTES.has(r.match.route);
      // A lean request goes to `handle` right away, in this same turn.
      routed = lean ? r : undefined;
      return lean;
    } catch (err) {
      // A target or escape the router refuses: node:http's path answers it with the 400.
      if (err instanceof HttpError) return false;
      throw err;
    }
  });
  // Its responses are ApiResponses, which node's generic types cannot say of a plain Server.
  return api;
}

/**
 * The API's wiring point: each handler file gets only the engine's parts it uses (its `…Deps`
 * interface), never the engine itself.
 */
function registerHandlers(router: Router, engine: Engine): void {
  const { services } = engine;
  registerSystem(router, {
    system: services.system,
    events: services.events,
    info: () => engine.info(),
  });
  registerImages(router, {
    queries: services.images,
    images: engine.images,
    imageBudget: services.imageBudget,
    imageStore: engine.imageStore,
    registry: engine.registry,
    removeImage: (ref, options) => engine.removeImage(ref, options),
  });
  registerArchiveImages(router, {
    dataRoot: engine.options.dataRoot,
    images: engine.images,
    imageBudget: services.imageBudget,
    imageQueries: services.images,
    system: services.system,
  });
  registerContainers(router, {
    containers: engine.containers,
    queries: services.containers,
    runtime: engine.runtime,
    stdin: engine.stdin,
  });
  registerNetworks(router, { networks: services.networks });
  registerVolumes(router, { volumes: services.volumes });
  registerSwarm(router, { swarm: engine.swarm });
  registerRegistry(router, { registry: engine.registry, imageStore: engine.imageStore });
  registerChanges(router, {
    options: engine.options,
    containers: engine.containers,
    content: engine.content,
    imageStore: engine.imageStore,
    images: engine.images,
    runtime: engine.runtime,
    snapshotter: engine.snapshotter,
    volumes: engine.volumes,
  });
  registerExec(router, {
    exec: engine.exec,
    containers: engine.containers,
    runtime: engine.runtime,
    stats: engine.stats,
    logger: engine.options.logger,
  });
  // One object for the daemon's life: the build cache index is kept per build deps object.
  registerBuild(router, {
    options: engine.options,
    containers: engine.containers,
    content: engine.content,
    imageStore: engine.imageStore,
    images: engine.images,
    registry: engine.registry,
    snapshotter: engine.snapshotter,
    commitContainer: (ref, options) => engine.commitContainer(ref, options),
  });
}

/** The request failed because its client closed the connection mid-request (an upload cut short). */
function clientWentAway(req: IncomingMessage, err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return req.socket.destroyed && (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE');
}

/** Docker's debug log of API calls, with how long each took (until its response or stream ended). */
function logCall(
  req: IncomingMessage,
  res: ServerResponse,
  done: { once(event: 'close', listener: () => void): unknown },
  debug: (msg: string) => void,
): void {
  const started = performance.now();
  debug(`Calling ${req.method} ${req.url}`);
  done.once('close', () =>
    debug(`${req.method} ${req.url}: ${res.statusCode} in ${(performance.now() - started).toFixed(1)} ms`),
  );
}

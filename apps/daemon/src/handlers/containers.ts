import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  ContainerCreateRequestSchema,
  HostConfigSchema,
  WaitConditionSchema,
  compareApiVersions,
  encodeFrame,
} from '@ts-container/api';
import {
  type ContainerQueries,
  type ContainerService,
  DEFAULT_DETACH_KEYS,
  DetachKeyScanner,
  type StdinAttachment,
  type StdinBroker,
  parseDetachKeys,
  parseTimestamp,
} from '@ts-container/engine';
import type { ContainerRuntime, LogRecord } from '@ts-container/runtime';
import {
  HttpError,
  boolParam,
  filtersParam,
  hijack,
  intParam,
  readJson,
  sendEmpty,
  sendJson,
  writable,
  writeChunk,
} from '../http.js';
import type { Router } from '../router.js';

/** See the attach handler: how long a log replay waits after the 101 on a hijacked connection. */
const ATTACH_REPLAY_DELAY_MS = 50;

export interface ContainersDeps {
  containers: Pick<
    ContainerService,
    | 'create'
    | 'get'
    | 'start'
    | 'stop'
    | 'kill'
    | 'wait'
    | 'remove'
    | 'removeLink'
    | 'update'
    | 'rename'
    | 'attach'
    | 'logs'
  >;
  /** `ps` filters, inspect views and prune. */
  queries: Pick<ContainerQueries, 'list' | 'inspect' | 'prune'>;
  runtime: Pick<ContainerRuntime, 'resize'>;
  stdin: Pick<StdinBroker, 'attach'>;
}

export function registerContainers(router: Router, deps: ContainersDeps): void {
  const { containers, queries } = deps;

  router.add('POST', '/containers/create', async ({ req, res, query, version }) => {
    const body = ContainerCreateRequestSchema.parse(await readJson(req));
    // Before API 1.44 a container is created on one network only (moby's verifyNetworkingConfig).
    const endpoints = Object.keys(body.NetworkingConfig?.EndpointsConfig ?? {});
    if (endpoints.length > 1 && compareApiVersions(version, '1.44') < 0)
      throw new HttpError(400, `Container cannot be connected to network endpoints: ${endpoints.join(', ')}`);
    const name = query.get('name') ?? undefined;
    sendJson(res, 201, await containers.create(body, name));
  });

  router.add('GET', '/containers/json', async ({ res, query }) => {
    const limit = intParam(query, 'limit');
    const list = await queries.list({
      all: boolParam(query, 'all'),
      ...(limit !== undefined ? { limit } : {}),
      size: boolParam(query, 'size'),
      filters: filtersParam(query),
    });
    sendJson(res, 200, list);
  });

  router.add('GET', '/containers/{id}/json', async ({ res, params, query }) => {
    sendJson(res, 200, await queries.inspect(params.id!, { size: boolParam(query, 'size') }));
  });

  router.add('POST', '/containers/{id}/start', async ({ res, params }) => {
    await containers.start(params.id!);
    sendEmpty(res, 204);
  });

  router.add('POST', '/containers/{id}/stop', async ({ res, params, query }) => {
    const timeout = intParam(query, 't');
    const signal = query.get('signal');
    await containers.stop(params.id!, {
      ...(timeout !== undefined ? { timeout } : {}),
      ...(signal ? { signal } : {}),
    });
    sendEmpty(res, 204);
  });

  router.add('POST', '/containers/{id}/restart', async ({ res, params, query }) => {
    const timeout = intParam(query, 't');
    const c = containers.get(params.id!);
    if (c.State.Running) await containers.stop(c.Id, timeout !== undefined ? { timeout } : {});
    await containers.start(c.Id);
    sendEmpty(res, 204);
  });

  router.add('POST', '/containers/{id}/kill', async ({ res, params, query }) => {
    await containers.kill(params.id!, query.get('signal') || 'SIGKILL');
    sendEmpty(res, 204);
  });

  router.add('POST', '/containers/{id}/wait', async ({ req, res, params, query }) => {
    const condition = WaitConditionSchema.parse(query.get('condition') || undefined);
    const abort = new AbortController();
    const promise = containers.wait(params.id!, condition, abort.signal);
    // Headers now, body at exit: clients learn the wait is registered before they start.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    req.socket.on('close', () => abort.abort());
    try {
      res.end(`${JSON.stringify(await promise)}\n`);
    } catch (err) {
      if (!abort.signal.aborted)
        res.end(`${JSON.stringify({ StatusCode: -1, Error: { Message: (err as Error).message } })}\n`);
    }
  });

  // `docker rm --link parent/alias`: a link's name has a slash in it.
  router.add('DELETE', '/containers/{parent}/{alias}', async ({ res, params, query }) => {
    const name = `${params.parent!}/${params.alias!}`;
    if (!boolParam(query, 'link')) throw new HttpError(404, `No such container: ${name}`);
    await containers.removeLink(name);
    sendEmpty(res, 204);
  });

  router.add('DELETE', '/containers/{id}', async ({ res, params, query }) => {
    if (boolParam(query, 'link')) {
      await containers.removeLink(params.id!);
      sendEmpty(res, 204);
      return;
    }
    await containers.remove(params.id!, {
      force: boolParam(query, 'force'),
      removeVolumes: boolParam(query, 'v'),
    });
    sendEmpty(res, 204);
  });

  router.add('POST', '/containers/{id}/update', async ({ req, res, params }) => {
    // The body is a HostConfig subset (resources and RestartPolicy), as in Docker.
    const body = HostConfigSchema.partial().parse(await readJson(req));
    sendJson(res, 200, await containers.update(params.id!, body));
  });

  router.add('POST', '/containers/prune', async ({ res, query }) => {
    sendJson(res, 200, await queries.prune(filtersParam(query)));
  });

  router.add('POST', '/containers/{id}/rename', async ({ res, params, query }) => {
    const name = query.get('name');
    if (!name) throw new HttpError(400, 'Neither old nor new names may be empty');
    await containers.rename(params.id!, name);
    sendEmpty(res, 204);
  });

  router.add('POST', '/containers/{id}/resize', async ({ res, params, query }) => {
    const c = containers.get(params.id!);
    const h = intParam(query, 'h');
    const w = intParam(query, 'w');
    if (h === undefined || w === undefined)
      throw new HttpError(400, 'strconv.Atoi: parsing "": invalid syntax');
    if (!c.State.Running) throw new HttpError(409, `Container ${c.Id} is not running`);
    if (c.Config.Tty) await deps.runtime.resize(c.Id, h, w);
    sendEmpty(res, 200);
  });

  router.add('POST', '/containers/{id}/attach', async (ctx) => {
    const { params, query } = ctx;
    const c = containers.get(params.id!);
    const tty = c.Config.Tty ?? false;
    const abort = new AbortController();
    let stdin: { scanner: DetachKeyScanner; attached: Promise<StdinAttachment> } | undefined;
    if (boolParam(query, 'stdin') && ctx.upgrade) {
      // What the client types goes to the container's stdin; its half-close is stdin's EOF,
      // and the detach keys (ctrl-p ctrl-q) end the attach but leave the container running.
      const scanner = new DetachKeyScanner(parseDetachKeys(query.get('detachKeys') || DEFAULT_DETACH_KEYS));
      if (ctx.upgrade.head.length > 0) scanner.write(ctx.upgrade.head);
      ctx.upgrade.socket.pipe(scanner);
      // A connection reset has no EOF for `pipe` to pass on: end the input so that it lets go
      // of the container's stdin.
      ctx.upgrade.socket.once('close', () => scanner.end());
      const attached = deps.stdin.attach(c.Id, scanner);
      // A running container's stdin is connected before the 101, so that a failure to connect
      // is the request's error status; a created one's is connected when it starts.
      if (c.State.Running) await attached;
      stdin = { scanner, attached };
    }
    const out = hijack(
      ctx,
      tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream',
    );
    // Input that cannot be delivered ends the attach, with the reason on the stream.
    let failure: string | undefined;
    if (stdin) {
      const { scanner, attached } = stdin;
      scanner.once('detach', () => {
        // A stdin that failed to connect has nothing to detach (the failure is reported below).
        void attached.then(
          (a) => a.detach(),
          () => undefined,
        );
        abort.abort();
      });
      attached
        .then((a) => a.ended)
        .catch((err: unknown) => {
          failure = err instanceof Error ? err.message : String(err);
          abort.abort();
        });
    }
    out.on('close', () => abort.abort());
    out.on('error', () => abort.abort());
    // docker-py parses the 101 with a buffered reader, then reads the stream from the raw socket:
    // bytes that arrive together with the response head are lost to it. A log replay is ready at
    // once, so it waits a moment for the client to have read the head (Docker's is later anyway).
    if (ctx.upgrade && boolParam(query, 'logs'))
      await new Promise((r) => setTimeout(r, ATTACH_REPLAY_DELAY_MS));
    const records = containers.attach(c.Id, {
      stdout: boolParam(query, 'stdout'),
      stderr: boolParam(query, 'stderr'),
      logs: boolParam(query, 'logs'),
      stream: boolParam(query, 'stream'),
      signal: abort.signal,
    });
    await pump(records, out, tty, false, () => failure);
  });

  router.add('GET', '/containers/{id}/logs', async ({ res, params, query, req }) => {
    const c = containers.get(params.id!);
    const stdout = boolParam(query, 'stdout');
    const stderr = boolParam(query, 'stderr');
    if (!stdout && !stderr) throw new HttpError(400, 'Bad parameters: you must choose at least one stream');
    const tailRaw = query.get('tail');
    const tailNumber = Number(tailRaw);
    // Docker reads any negative number (dockerode sends -1) as "all".
    const tail =
      tailRaw === null || tailRaw === '' || tailRaw === 'all' || tailNumber < 0 ? 'all' : tailNumber;
    if (tail !== 'all' && !Number.isInteger(tail)) throw new HttpError(400, `invalid tail value: ${tailRaw}`);
    const since = parseTimestamp(query.get('since'));
    const until = parseTimestamp(query.get('until'));
    const tty = c.Config.Tty ?? false;
    const follow = boolParam(query, 'follow');
    res.writeHead(200, {
      'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream',
    });
    // A follower may wait long for a record: it hears at once that the stream is on. Otherwise
    // the head goes out with the records, in one write.
    if (follow) res.flushHeaders();
    // A follower waits on the container: its leaving ends the wait. (The listener goes with the
    // request: a keep-alive connection may carry many.)
    const abort = follow ? new AbortController() : undefined;
    const onClose = () => abort?.abort();
    if (abort) req.socket.on('close', onClose);
    const records = containers.logs(c.Id, {
      stdout,
      stderr,
      follow,
      tail,
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(abort ? { signal: abort.signal } : {}),
    });
    try {
      await pump(records, res, tty, boolParam(query, 'timestamps'));
    } finally {
      if (abort) req.socket.off('close', onClose);
    }
  });
}

/**
 * Sends log records to the client until they end; `lastWords` is an error to tell the client
 * before the end, written as Docker writes one on a hijacked stream (a line on stdout).
 */
async function pump(
  records: AsyncGenerator<LogRecord>,
  out: Duplex | ServerResponse,
  tty: boolean,
  timestamps: boolean,
  lastWords: () => string | undefined = () => undefined,
): Promise<void> {
  try {
    for await (const r of records) {
      const text = timestamps ? `${dockerTimestamp(r.time)} ${r.text}` : r.text;
      const payload = Buffer.from(text);
      // A client gone mid-stream ends the stream here (and the generator, with its watchers).
      if (!(await writeChunk(out, tty ? payload : encodeFrame(r.stream, payload)))) break;
    }
  } finally {
    const error = lastWords();
    if (error !== undefined && writable(out)) {
      const line = Buffer.from(`${error}\r\n`);
      out.write(tty ? line : encodeFrame('stdout', line));
    }
    if (writable(out)) out.end();
  }
}

/** conmon writes `2024-01-01T00:00:00.123456789+00:00`; Docker prints UTC with `Z`. */
function dockerTimestamp(time: string): string {
  return time.replace(/([+-]00:00)$/, 'Z');
}

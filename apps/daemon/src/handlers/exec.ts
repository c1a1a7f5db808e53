import type { ServerResponse } from 'node:http';
import { type Duplex, PassThrough, Writable } from 'node:stream';
import {
  ExecCreateRequestSchema,
  type ExecStartRequest,
  ExecStartRequestSchema,
  encodeFrame,
} from '@ts-container/api';
import type { Logger } from '@ts-container/common';
import {
  type ContainerService,
  type ExecService,
  type StatsService,
  pauseContainer,
  topContainer,
  unpauseContainer,
} from '@ts-container/engine';
import type { ContainerRuntime } from '@ts-container/runtime';
import {
  HttpError,
  boolParam,
  hijack,
  readJson,
  sendEmpty,
  sendJson,
  writable,
  writeChunk,
} from '../http.js';
import type { Router } from '../router.js';

/**
 * A writable that frames what it is given as one stream of the multiplexed format (unless
 * `raw`), waits while the client is slow, and drops what comes after the client has gone.
 */
function framed(out: Duplex | ServerResponse, stream: 'stdout' | 'stderr', raw: boolean): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      writeChunk(out, raw ? chunk : encodeFrame(stream, chunk)).then(() => cb(), cb);
    },
  });
}

/** Ends a writable and resolves once what it was given has been passed on. */
function flushed(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    w.once('finish', resolve);
    w.once('error', () => resolve());
    w.end();
  });
}

/** Takes the first `n` bytes of an upgraded connection (head first, then the socket). */
async function takeBytes(upgrade: { socket: Duplex; head: Buffer }, n: number): Promise<Buffer> {
  let buf = upgrade.head;
  while (buf.length < n) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const done = (c: Buffer | null) => {
        upgrade.socket.off('data', onData);
        upgrade.socket.off('end', onEnd);
        upgrade.socket.off('close', onEnd);
        resolve(c);
      };
      const onData = (c: Buffer) => {
        upgrade.socket.pause();
        done(c);
      };
      // A client that goes (or resets) before its body has come ends the wait too.
      const onEnd = () => done(null);
      upgrade.socket.on('data', onData);
      upgrade.socket.once('end', onEnd);
      upgrade.socket.once('close', onEnd);
      upgrade.socket.resume();
    });
    if (!chunk) break;
    buf = Buffer.concat([buf, chunk]);
  }
  upgrade.head = buf.subarray(n);
  return buf.subarray(0, n);
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `invalid JSON: ${(err as Error).message}`);
  }
}

export interface ExecDeps {
  exec: Pick<ExecService, 'create' | 'assertStartable' | 'startDetached' | 'start' | 'get'>;
  containers: Pick<ContainerService, 'get' | 'pause' | 'unpause'>;
  runtime: Pick<ContainerRuntime, 'pids'>;
  stats: Pick<StatsService, 'sample' | 'subscribe'>;
  /** Where a detached exec's failure is told (the engine's logger, if it was given one). */
  logger: Pick<Logger, 'warn'> | undefined;
}

export function registerExec(router: Router, deps: ExecDeps): void {
  router.add('POST', '/containers/{id}/exec', async ({ req, res, params }) => {
    const body = ExecCreateRequestSchema.parse(await readJson(req));
    const id = deps.exec.create(params.id!, {
      Cmd: body.Cmd,
      ...(body.Env ? { Env: body.Env } : {}),
      ...(body.User ? { User: body.User } : {}),
      ...(body.WorkingDir ? { WorkingDir: body.WorkingDir } : {}),
      ...(body.DetachKeys || body.detachKeys ? { DetachKeys: (body.DetachKeys || body.detachKeys)! } : {}),
      Tty: body.Tty ?? false,
      AttachStdin: body.AttachStdin ?? false,
      AttachStdout: body.AttachStdout ?? true,
      AttachStderr: body.AttachStderr ?? true,
    });
    sendJson(res, 201, { Id: id });
  });

  router.add('POST', '/exec/{id}/start', async (ctx) => {
    const { req, params, upgrade } = ctx;
    let body: ExecStartRequest;
    if (upgrade) {
      // An upgraded request's body arrives with the stream, ahead of any stdin.
      const length = Number(req.headers['content-length'] ?? 0);
      const raw = await takeBytes(upgrade, length);
      body = ExecStartRequestSchema.parse(raw.length ? parseJson(raw) : {});
    } else body = ExecStartRequestSchema.parse(await readJson(req));
    const session = deps.exec.assertStartable(params.id!);
    if (body.Detach) {
      deps.exec.startDetached(session.ID);
      sendEmpty(ctx.res, 200);
      return;
    }
    // Docker frames the output unless the START request asks for a tty: the exec's own Tty only
    // decides whether the process gets a terminal (whose output then all comes as stdout).
    const raw = body.Tty ?? false;
    const out = hijack(
      ctx,
      raw ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream',
    );
    let input: PassThrough | undefined;
    if (upgrade && session.config.AttachStdin) {
      input = new PassThrough();
      if (upgrade.head.length > 0) input.write(upgrade.head);
      upgrade.socket.pipe(input);
    }
    // A client that goes away ends its exec (Docker kills the process), unless it detached.
    const gone = new AbortController();
    const onClose = () => gone.abort();
    out.once('close', onClose);
    let detach: () => void = () => undefined;
    const detached = new Promise<'detached'>((resolve) => {
      detach = () => resolve('detached');
    });
    const stdout = framed(out, 'stdout', raw);
    const stderr = framed(out, 'stderr', raw);
    const started = deps.exec.start(session.ID, {
      ...(input ? { stdin: input } : {}),
      ...(session.config.AttachStdout !== false ? { stdout } : {}),
      ...(session.config.AttachStderr !== false ? { stderr } : {}),
      signal: gone.signal,
      onDetach: detach,
    });
    try {
      if ((await Promise.race([started, detached])) === 'detached') {
        out.off('close', onClose);
        if (upgrade && input) upgrade.socket.unpipe(input);
        // The process runs on with no one to read it; its exit is still recorded.
        started.catch((err: unknown) =>
          deps.logger?.warn(`exec ${session.ID}: ${err instanceof Error ? err.message : String(err)}`),
        );
        return;
      }
    } catch (err) {
      // After the 101 an error can only be reported on the stream, as Docker does.
      stdout.write(`${err instanceof Error ? err.message : String(err)}\r\n`);
      throw err;
    } finally {
      await Promise.all([flushed(stdout), flushed(stderr)]);
      if (writable(out)) out.end();
    }
  });

  router.add('GET', '/exec/{id}/json', async ({ res, params }) => {
    const s = deps.exec.get(params.id!);
    sendJson(res, 200, {
      ID: s.ID,
      Running: s.Running,
      ExitCode: s.ExitCode,
      ProcessConfig: {
        tty: s.config.Tty ?? false,
        entrypoint: s.config.Cmd[0],
        arguments: s.config.Cmd.slice(1),
        privileged: false,
        user: s.config.User ?? '',
      },
      OpenStdin: s.config.AttachStdin ?? false,
      OpenStderr: s.config.AttachStderr ?? true,
      OpenStdout: s.config.AttachStdout ?? true,
      CanRemove: false,
      ContainerID: s.ContainerID,
      DetachKeys: s.config.DetachKeys ?? '',
      Pid: s.Pid,
    });
  });

  router.add('POST', '/exec/{id}/resize', async ({ res, params }) => {
    deps.exec.get(params.id!);
    sendEmpty(res, 200);
  });

  router.add('POST', '/containers/{id}/pause', async ({ res, params }) => {
    await pauseContainer(deps, params.id!);
    sendEmpty(res, 204);
  });

  router.add('POST', '/containers/{id}/unpause', async ({ res, params }) => {
    await unpauseContainer(deps, params.id!);
    sendEmpty(res, 204);
  });

  router.add('GET', '/containers/{id}/top', async ({ res, params, query }) => {
    const psArgs = query.get('ps_args') || '-ef';
    if (/[;&|`$]/.test(psArgs)) throw new HttpError(400, `invalid ps arguments: ${psArgs}`);
    sendJson(res, 200, await topContainer(deps, params.id!, psArgs));
  });

  router.add('GET', '/containers/{id}/stats', async ({ req, res, params, query }) => {
    const c = deps.containers.get(params.id!);
    const stream = boolParam(query, 'stream', true);
    if (!stream) {
      // Docker waits for a second sample so that precpu_stats (and CPU %) are meaningful,
      // unless the client asks for a one-shot answer.
      if (boolParam(query, 'one-shot') || !c.State.Running) {
        sendJson(res, 200, await deps.stats.sample(c.Id));
        return;
      }
      let count = 0;
      await new Promise<void>((resolve) => {
        const stop = deps.stats.subscribe(c.Id, (stats) => {
          if (++count < 2 && stats.precpu_stats.system_cpu_usage === undefined) return;
          stop();
          sendJson(res, 200, stats);
          resolve();
        });
      });
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    await new Promise<void>((resolve) => {
      const stop = deps.stats.subscribe(c.Id, (stats) => {
        res.write(`${JSON.stringify(stats)}\n`);
        // A stopped container gets one zeroed document, then the stream ends, as in Docker.
        if (stats.read === '0001-01-01T00:00:00Z') finish();
      });
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        stop();
        res.end();
        resolve();
      };
      req.socket.once('close', finish);
    });
  });
}

import { type Engine, buildFromTar, pruneBuildCache } from '@ts-container/engine';
import { z } from 'zod';
import { HttpError, type RequestContext, boolParam, messageFor, sendJson } from '../http.js';
import type { Router } from '../router.js';

/** `buildargs` and `labels`: JSON objects of strings (a null build arg means "from the environment"). */
const BuildArgsSchema = z.record(z.string().nullable());
const LabelsSchema = z.record(z.string());

function jsonParam<T>(query: URLSearchParams, name: string, schema: z.ZodType<T>): T | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new HttpError(400, `invalid ${name} value: ${raw}`);
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw new HttpError(400, `invalid ${name} value: ${raw}`);
  return result.data;
}

/**
 * `POST /build`: the classic builder API. The body is the build context as a tar; progress
 * is a stream of JSON messages (`{"stream":"Step 1/3 : FROM busybox\n"}`, then
 * `{"aux":{"ID":"sha256:…"}}`), and a failure after the first message is an
 * `{"errorDetail":{…},"error":…}` line, which is what the docker CLI and compose parse.
 */
async function postBuild(engine: Engine, { req, res, query }: RequestContext): Promise<void> {
  if (query.get('version') === '2')
    throw new HttpError(400, 'BuildKit is not supported by this daemon: use the classic builder (version=1)');
  const remote = query.get('remote');
  if (remote) throw new HttpError(400, `remote build contexts are not supported: ${remote}`);
  const buildArgs = jsonParam(query, 'buildargs', BuildArgsSchema) ?? {};
  const labels = jsonParam(query, 'labels', LabelsSchema);
  const quiet = boolParam(query, 'q');
  const tags = query.getAll('t').filter((t) => t !== '');
  const target = query.get('target');
  const platform = query.get('platform');
  const dockerfile = query.get('dockerfile');

  let started = false;
  const send = (msg: object) => {
    if (!started) {
      started = true;
      res.writeHead(200, { 'Content-Type': 'application/json' });
    }
    res.write(`${JSON.stringify(msg)}\n`);
  };
  try {
    const result = await buildFromTar(
      engine,
      req,
      {
        tags,
        buildArgs: Object.fromEntries(Object.entries(buildArgs).map(([k, v]) => [k, v ?? undefined])),
        noCache: boolParam(query, 'nocache'),
        removeIntermediate: boolParam(query, 'rm', true),
        forceRemove: boolParam(query, 'forcerm'),
        pull: boolParam(query, 'pull'),
        ...(dockerfile ? { dockerfile } : {}),
        ...(target ? { target } : {}),
        ...(platform ? { platform } : {}),
        ...(labels ? { labels } : {}),
        onPullProgress: (e) => {
          if (!quiet) send(e);
        },
      },
      (message) => {
        if (!quiet) send({ stream: message });
      },
    );
    send({ aux: { ID: result.imageId } });
    // With -q the image ID is the only output, which the docker CLI prints as is.
    if (quiet) send({ stream: `${result.imageId}\n` });
  } catch (err) {
    // Before the first message the error is an ordinary HTTP error (as moby does), which the
    // docker CLI prints as `Error response from daemon: …`.
    if (!started) throw err;
    const message = messageFor(err);
    const code = (err as { exitCode?: unknown }).exitCode;
    send({
      errorDetail: { ...(typeof code === 'number' ? { code } : {}), message },
      error: message,
    });
  }
  res.end();
}

export function registerBuild(router: Router, engine: Engine): void {
  router.add('POST', '/build', (ctx) => postBuild(engine, ctx));
  router.add('POST', '/build/prune', async ({ res, query }) => {
    const all = boolParam(query, 'all');
    // Cache entries only point at images (removed with `image prune`): no space is freed here.
    await pruneBuildCache(engine, { all });
    sendJson(res, 200, { CachesDeleted: [], SpaceReclaimed: 0 });
  });
}

import type { ServerResponse } from 'node:http';
import { AuthConfigSchema } from '@ts-container/api';
import type { RegistryService } from '@ts-container/engine';
import type { ImageStore } from '@ts-container/image';
import type { Credentials } from '@ts-container/registry';
import { HttpError, type RequestContext, filtersParam, messageFor, readJson, sendJson } from '../http.js';
import type { Router } from '../router.js';

/** `X-Registry-Auth`: base64url JSON the docker CLI sends with pull and push. */
function credentialsFrom(header: string | string[] | undefined): Credentials | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid X-Registry-Auth header: not base64-encoded JSON');
  }
  const auth = AuthConfigSchema.parse(parsed);
  const creds: Credentials = {};
  if (auth.username) creds.username = auth.username;
  if (auth.password) creds.password = auth.password;
  if (auth.identitytoken) creds.identityToken = auth.identitytoken;
  if (auth.registrytoken) creds.registryToken = auth.registrytoken;
  return Object.keys(creds).length > 0 ? creds : undefined;
}

/** Streams Docker's JSON progress messages; an error after the headers becomes an errorDetail line. */
async function streamProgress(
  res: ServerResponse,
  work: (send: (message: object) => void) => Promise<void>,
): Promise<void> {
  // As moby does, the 200 and the stream start with the first message: an error before it (unknown
  // image, refused credentials) is an ordinary HTTP error the clients print as such.
  let started = false;
  const send = (msg: object) => {
    if (!started) {
      started = true;
      res.writeHead(200, { 'Content-Type': 'application/json' });
    }
    res.write(`${JSON.stringify(msg)}\n`);
  };
  try {
    await work(send);
  } catch (err) {
    if (!started) throw err;
    const message = messageFor(err);
    send({ errorDetail: { message }, error: message });
  }
  if (!started) res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end();
}

export interface PullDeps {
  registry: Pick<RegistryService, 'pull' | 'pullAllTags'>;
}

export interface RegistryDeps {
  registry: Pick<RegistryService, 'push' | 'login' | 'search'>;
  imageStore: Pick<ImageStore, 'resolve'>;
}

/** `POST /images/create?fromImage=…&tag=…`: pull (the import form is handled in images.ts). */
export async function pullImage(deps: PullDeps, { req, res, query }: RequestContext): Promise<void> {
  const from = query.get('fromImage');
  if (!from) throw new HttpError(400, 'fromImage or fromSrc is required');
  const tag = query.get('tag');
  const reference = tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from;
  const credentials = credentialsFrom(req.headers['x-registry-auth']);
  // Engine API: "If empty when pulling an image, this causes all tags for the given image to be pulled."
  const allTags = !tag && !/[:@]/.test(from.slice(from.lastIndexOf('/') + 1));
  await streamProgress(res, async (progress) => {
    const platform = query.get('platform');
    if (allTags) {
      await deps.registry.pullAllTags(from, {
        ...(credentials ? { credentials } : {}),
        ...(platform ? { platform } : {}),
        onProgress: progress,
      });
      return;
    }
    await deps.registry.pull(reference, {
      ...(credentials ? { credentials } : {}),
      ...(platform ? { platform } : {}),
      onProgress: progress,
    });
  });
}

/** Registry endpoints: push and login (`/auth`). */
export function registerRegistry(router: Router, deps: RegistryDeps): void {
  router.add('POST', '/images/{name*}/push', async ({ req, res, params, query }) => {
    const tag = query.get('tag');
    const reference = tag ? `${params.name}:${tag}` : params.name!;
    const credentials = credentialsFrom(req.headers['x-registry-auth']);
    // Unknown images are an ordinary 404 before the stream starts, as Docker answers.
    deps.imageStore.resolve(reference);
    await streamProgress(res, async (progress) => {
      const result = await deps.registry.push(reference, {
        ...(credentials ? { credentials } : {}),
        onProgress: progress,
      });
      progress({ progressDetail: {}, aux: { Tag: result.tag, Digest: result.digest, Size: result.size } });
    });
  });

  router.add('POST', '/auth', async ({ req, res }) => {
    const body = AuthConfigSchema.parse(await readJson(req));
    const credentials: Credentials = {};
    if (body.username) credentials.username = body.username;
    if (body.password) credentials.password = body.password;
    if (body.identitytoken) credentials.identityToken = body.identitytoken;
    await deps.registry.login(body.serveraddress ?? '', credentials);
    sendJson(res, 200, { Status: 'Login Succeeded', IdentityToken: '' });
  });

  router.add('GET', '/images/search', async ({ req, res, query }) => {
    const term = query.get('term') ?? '';
    if (term === '') throw new HttpError(400, 'term is required');
    const limit = Number(query.get('limit') || 25);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      throw new HttpError(400, 'limit must be between 1 and 100');
    const filters = filtersParam(query);
    for (const key of filters.keys())
      if (!['stars', 'is-official', 'is-automated'].includes(key))
        throw new HttpError(400, `invalid filter '${key}'`);
    const credentials = credentialsFrom(req.headers['x-registry-auth']);
    const results = await deps.registry.search(term, { limit, ...(credentials ? { credentials } : {}) });
    const minStars = Math.max(
      0,
      ...(filters.get('stars') ?? []).map((v) => {
        const n = Number(v);
        if (!Number.isInteger(n)) throw new HttpError(400, `invalid filter 'stars=${v}'`);
        return n;
      }),
    );
    const flag = (key: string) => {
      const v = filters.get(key)?.[0];
      return v === undefined ? undefined : v === 'true' || v === '1';
    };
    const official = flag('is-official');
    const automated = flag('is-automated');
    sendJson(
      res,
      200,
      results.filter(
        (r) =>
          r.star_count >= minStars &&
          (official === undefined || r.is_official === official) &&
          (automated === undefined || r.is_automated === automated),
      ),
    );
  });
}

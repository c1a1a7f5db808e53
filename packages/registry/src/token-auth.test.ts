import { createSign, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentStore, MediaType, parseReference } from '@ts-container/image';
import { TestRegistry, hasRegistry, makeCertificateAuthority } from '@ts-container/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from './client.js';
import { type ProgressEvent, listTags } from './distribution.js';
import { pullImage } from './pull.js';
import { pushImage } from './push.js';

const skip = hasRegistry() ? undefined : 'docker-registry is not installed (tools/bootstrap installs it)';
if (skip) console.warn(`token auth tests skipped: ${skip}`);

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

interface TokenRequest {
  account: string | null;
  service: string | null;
  scopes: string[];
  authorized: boolean;
}

/**
 * A token server as the distribution token-auth spec describes it: Basic credentials in, an RS256
 * JWT out, whose `x5c` certificate the real registry checks against its `rootcertbundle`.
 * alice/s3cret may pull and push anything; anonymous clients may only pull `public/*`.
 */
async function startTokenServer(
  dir: string,
): Promise<{ server: Server; url: string; requests: TokenRequest[]; cert: string }> {
  // Its signing key: a self-signed certificate, the registry's `rootcertbundle`.
  const issuer = await makeCertificateAuthority(join(dir, 'issuer'), {
    commonName: 'tsctr-test-token-issuer',
  });
  const key = await readFile(issuer.key, 'utf8');
  const cert = await readFile(issuer.cert, 'utf8');
  const der = cert.replace(/-----[^-]+-----|\s/g, '');
  const requests: TokenRequest[] = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const header = req.headers.authorization ?? '';
    let authorized = false;
    if (req.method === 'POST') {
      // OAuth2 refresh-token grant: the form carries service, scopes and the identity token.
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== 'alice-refresh-token') {
        res.writeHead(401);
        res.end();
        return;
      }
      authorized = true;
      url.searchParams.set('service', form.get('service') ?? '');
      url.searchParams.set('account', 'alice');
      for (const sc of form.getAll('scope')) url.searchParams.append('scope', sc);
    } else if (header.startsWith('Basic ')) {
      if (Buffer.from(header.slice(6), 'base64').toString() !== 'alice:s3cret') {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end('{"details":"incorrect username or password"}');
        return;
      }
      authorized = true;
    }
    const scopes = url.searchParams.getAll('scope');
    requests.push({
      account: url.searchParams.get('account'),
      service: url.searchParams.get('service'),
      scopes,
      authorized,
    });
    const access = scopes.map((s) => {
      const [type, name, actions] = s.split(':') as [string, string, string];
      const wanted = actions.split(',');
      const granted = authorized
        ? wanted
        : name.startsWith('public/')
          ? wanted.filter((a) => a === 'pull')
          : [];
      return { type, name, actions: granted };
    });
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der] }));
    const claims = b64url(
      JSON.stringify({
        iss: 'tsctr-test-issuer',
        sub: authorized ? 'alice' : '',
        aud: 'tsctr-test-registry',
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString('hex'),
        access,
      }),
    );
    const signature = createSign('RSA-SHA256').update(`${head}.${claims}`).sign(key);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: `${head}.${claims}.${b64url(signature)}`, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    requests,
    cert: issuer.cert,
  };
}

describe.skipIf(skip !== undefined)('bearer token auth against the real registry', () => {
  let dir: string;
  let token: Awaited<ReturnType<typeof startTokenServer>>;
  let registry: TestRegistry | undefined;
  let host: string;
  let store: ContentStore;
  let image: { manifest: Buffer; blobs: { mediaType: string; digest: string; size: number }[] };
  const alice = { username: 'alice', password: 's3cret' };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'registry-token-'));
    token = await startTokenServer(dir);
    registry = await TestRegistry.start({
      token: {
        realm: token.url,
        service: 'tsctr-test-registry',
        issuer: 'tsctr-test-issuer',
        rootCertBundle: token.cert,
      },
    });
    host = registry.host;
    store = new ContentStore(join(dir, 'store'));
    await store.init();
    const layer = await store.put(randomBytes(200_000));
    const config = await store.put(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    );
    const layers = [{ mediaType: MediaType.DockerLayerGzip, ...layer }];
    image = {
      manifest: Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.DockerManifest,
          config: { mediaType: MediaType.DockerConfig, ...config },
          layers,
        }),
      ),
      blobs: [{ mediaType: MediaType.DockerConfig, ...config }, ...layers],
    };
  });
  afterAll(async () => {
    await registry?.stop();
    token?.server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers the ping with a bearer challenge; login works with the right password only', async () => {
    const res = await fetch(`http://${host}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    await new RegistryClient(host, { credentials: alice }).ping();
    await expect(
      new RegistryClient(host, { credentials: { username: 'alice', password: 'wrong' } }).ping(),
    ).rejects.toThrow(`Get "http://${host}/v2/": unauthorized: incorrect username or password`);
  });

  it('pushes with a push-scoped token (chunked), pulls anonymously, and caches tokens per scope', async () => {
    const ref = parseReference(`${host}/public/app:1`);
    token.requests.length = 0;
    const client = new RegistryClient(host, { credentials: alice });
    const events: ProgressEvent[] = [];
    await pushImage({
      client,
      reference: ref,
      store,
      blobs: image.blobs,
      manifest: image.manifest,
      manifestMediaType: MediaType.DockerManifest,
      chunkSize: 64 * 1024,
      onProgress: (e) => events.push(e),
    });
    // One line per layer (the config goes up silently, as in Docker's output).
    expect(events.filter((e) => e.status === 'Pushed')).toHaveLength(image.blobs.length - 1);
    // Every push request shares one token: one token request for the push scope.
    const pushRequests = token.requests.filter((r) => r.scopes.includes('repository:public/app:pull,push'));
    expect(pushRequests).toHaveLength(1);
    expect(pushRequests[0]).toMatchObject({
      account: 'alice',
      service: 'tsctr-test-registry',
      authorized: true,
    });

    const target = new ContentStore(join(dir, 'anonymous'));
    await target.init();
    const pulled = await pullImage({ client: new RegistryClient(host), reference: ref, store: target });
    expect(pulled.configDigest).toBe(image.blobs[0]!.digest);
    expect(token.requests.some((r) => !r.authorized && r.scopes.includes('repository:public/app:pull'))).toBe(
      true,
    );
    expect(await listTags(client, 'public/app')).toEqual(['1']);
  });

  it('refuses an anonymous push and an anonymous pull of a private repository like Docker', async () => {
    const ref = parseReference(`${host}/private/app:1`);
    await expect(
      pushImage({
        client: new RegistryClient(host),
        reference: ref,
        store,
        blobs: image.blobs,
        manifest: image.manifest,
        manifestMediaType: MediaType.DockerManifest,
      }),
    ).rejects.toThrow('denied: requested access to the resource is denied');
    await pushImage({
      client: new RegistryClient(host, { credentials: alice }),
      reference: ref,
      store,
      blobs: image.blobs,
      manifest: image.manifest,
      manifestMediaType: MediaType.DockerManifest,
    });
    const target = new ContentStore(join(dir, 'denied'));
    await target.init();
    await expect(
      pullImage({ client: new RegistryClient(host), reference: ref, store: target }),
    ).rejects.toThrow(
      `pull access denied for ${host}/private/app, repository does not exist or may require 'docker login'`,
    );
  });

  it('exchanges a stored identity token with the OAuth2 refresh-token grant', async () => {
    const ref = parseReference(`${host}/private/app:1`);
    const target = new ContentStore(join(dir, 'identity'));
    await target.init();
    const pulled = await pullImage({
      client: new RegistryClient(host, { credentials: { identityToken: 'alice-refresh-token' } }),
      reference: ref,
      store: target,
    });
    expect(pulled.configDigest).toBe(image.blobs[0]!.digest);
    await expect(
      new RegistryClient(host, { credentials: { identityToken: 'stale' } }).ping(),
    ).rejects.toThrow('unauthorized: incorrect username or password');
  });

  it('mounts blobs from another repository instead of uploading them again', async () => {
    const events: ProgressEvent[] = [];
    const before = token.requests.length;
    await pushImage({
      client: new RegistryClient(host, { credentials: alice }),
      reference: parseReference(`${host}/other/app:1`),
      store,
      blobs: image.blobs,
      manifest: image.manifest,
      manifestMediaType: MediaType.DockerManifest,
      mountFrom: ['public/app'],
      onProgress: (e) => events.push(e),
    });
    expect(events.filter((e) => e.status === 'Mounted from public/app')).toHaveLength(1); // the layer (the config has no line)
    expect(events.some((e) => e.status === 'Pushing')).toBe(false);
    expect(
      token.requests
        .slice(before)
        .some(
          (r) =>
            r.scopes.includes('repository:other/app:pull,push') &&
            r.scopes.includes('repository:public/app:pull'),
        ),
    ).toBe(true);
  });
});

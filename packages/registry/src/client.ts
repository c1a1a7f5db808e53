import type { Readable } from 'node:stream';
import { type AuthChallenge, type Credentials, basicAuthHeader, parseChallenge } from './auth.js';
import { RegistryError } from './errors.js';
import { type HttpResponse, drain, readBody, send } from './http.js';

export interface RegistryOptions {
  /** `host[:port]` entries or CIDRs reached over plain HTTP or unverified TLS. */
  insecureRegistries?: string[];
  credentials?: Credentials;
  /** Extra CA certificates for this registry (from a certs.d directory). */
  ca?: Buffer[];
  /** A client certificate and its key (PEM) for registries that require mutual TLS. */
  clientCertificate?: { cert: Buffer; key: Buffer };
  userAgent?: string;
}

/** Docker Hub's API host; `docker.io` is only its name. */
export function apiHost(domain: string): string {
  return domain === 'docker.io' || domain === 'index.docker.io' ? 'registry-1.docker.io' : domain;
}

/** Docker's rule: loopback registries and those listed as insecure may use plain HTTP. */
export function isInsecure(host: string, insecureRegistries: string[] = []): boolean {
  const hostname = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (hostname === 'localhost' || /^127\./.test(hostname) || hostname === '::1') return true;
  return insecureRegistries.some((entry) => {
    if (entry === host || entry === hostname) return true;
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(entry);
    if (!cidr || !/^\d+\.\d+\.\d+\.\d+$/.test(hostname)) return false;
    const toInt = (ip: string) => ip.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
    const bits = Number(cidr[2]);
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    return (toInt(cidr[1]!) & mask) === (toInt(hostname) & mask);
  });
}

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  /**
   * Token scope, e.g. `repository:library/busybox:pull`; several are separated by spaces (a
   * cross-repository mount needs push on the target and pull on the source).
   */
  scope?: string;
}

/** Talks to one registry: scheme negotiation, basic and bearer-token auth, token caching. */
export class RegistryClient {
  readonly host: string;
  private base: string | undefined;
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  private challenge: AuthChallenge | undefined;

  constructor(
    domain: string,
    private readonly options: RegistryOptions = {},
  ) {
    this.host = apiHost(domain);
  }

  private tls(): { ca?: Buffer[]; cert?: Buffer; key?: Buffer } {
    return {
      ...(this.options.ca ? { ca: this.options.ca } : {}),
      ...(this.options.clientCertificate ?? {}),
    };
  }

  private get insecure(): boolean {
    return isInsecure(this.host, this.options.insecureRegistries);
  }

  /** HTTPS first; plain HTTP only where Docker allows it. */
  async baseUrl(): Promise<string> {
    if (this.base) return this.base;
    try {
      const res = await send(`https://${this.host}/v2/`, {
        insecureTls: this.insecure,
        timeoutMs: 10_000,
        ...this.tls(),
      });
      drain(res);
      this.base = `https://${this.host}`;
    } catch (err) {
      if (!this.insecure) throw unreachable(`https://${this.host}/v2/`, err);
      this.base = `http://${this.host}`;
    }
    return this.base;
  }

  /** `GET /v2/`: reachable, and which auth it wants. Throws on bad credentials. */
  async ping(): Promise<void> {
    const res = await this.request('/v2/', {});
    drain(res);
    if (res.status === 401)
      throw new RegistryError(
        'unauthorized',
        // moby's loginV2 wording for a registry that refuses the credentials itself (basic auth).
        `login attempt to ${await this.baseUrl()}/v2/ failed with status: 401 Unauthorized`,
      );
    if (res.status >= 400)
      throw new RegistryError('system', `registry ${this.host} answered ${res.status} to /v2/`);
  }

  async request(path: string, options: RequestOptions): Promise<HttpResponse> {
    const url = path.startsWith('http') ? path : `${await this.baseUrl()}${path}`;
    const attempt = async (auth: string | undefined) => {
      const headers: Record<string, string> = {
        'User-Agent': this.options.userAgent ?? 'tsctr/0.1',
        ...options.headers,
      };
      if (auth) headers.Authorization = auth;
      const body = typeof options.body === 'function' ? options.body() : options.body;
      try {
        return await send(url, {
          method: options.method ?? 'GET',
          headers,
          insecureTls: this.insecure,
          ...(body ? { body } : {}),
          ...this.tls(),
        });
      } catch (err) {
        throw unreachable(url, err);
      }
    };
    let res = await attempt(await this.authorization(options.scope));
    if (res.status !== 401) return res;
    const challenge = parseChallenge(res.headers['www-authenticate']);
    if (!challenge) return res;
    drain(res);
    this.challenge = challenge;
    this.tokens.delete(options.scope ?? '');
    res = await attempt(await this.authorization(options.scope));
    return res;
  }

  /** Whether the registry asked for basic auth and this client has no credentials to give. */
  get lacksBasicCredentials(): boolean {
    const creds = this.options.credentials ?? {};
    return this.challenge?.scheme === 'basic' && creds.username === undefined && !creds.registryToken;
  }

  private async authorization(scope: string | undefined): Promise<string | undefined> {
    const creds = this.options.credentials ?? {};
    if (creds.registryToken) return `Bearer ${creds.registryToken}`;
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return basicAuthHeader(creds);
    const key = scope ?? '';
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return `Bearer ${cached.token}`;
    const realm = challenge.params.realm;
    if (!realm) throw new RegistryError('system', `registry ${this.host}: bearer challenge without a realm`);
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    // Distribution token spec: one `scope` parameter per resource.
    for (const s of (scope ?? '').split(' ').filter(Boolean)) url.searchParams.append('scope', s);
    if (creds.username) url.searchParams.set('account', creds.username);
    const headers: Record<string, string> = {};
    const basic = basicAuthHeader(creds);
    if (basic) headers.Authorization = basic;
    let res: HttpResponse;
    try {
      if (creds.identityToken) {
        // Token spec (OAuth2): a stored identity token is exchanged with POST grant_type=refresh_token.
        const form = new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: creds.identityToken,
          client_id: 'tsctr',
          service: challenge.params.service ?? '',
        });
        for (const s of (scope ?? '').split(' ').filter(Boolean)) form.append('scope', s);
        const body = Buffer.from(form.toString());
        res = await send(realm, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/x-www-form-urlencoded',
            'Content-Length': String(body.length),
          },
          body,
          insecureTls: this.insecure,
        });
      } else res = await send(url.toString(), { headers, insecureTls: this.insecure });
    } catch (err) {
      throw unreachable(url.toString(), err);
    }
    const body = await readBody(res);
    if (res.status === 401 || res.status === 403)
      // What Docker prints when a token server refuses the credentials.
      throw new RegistryError(
        'unauthorized',
        `Get "${await this.baseUrl()}/v2/": unauthorized: incorrect username or password`,
      );
    if (res.status >= 400)
      throw new RegistryError('system', `token server ${url.origin} answered ${res.status}`);
    const parsed = JSON.parse(body.toString('utf8')) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw new RegistryError('system', `token server ${url.origin} returned no token`);
    this.tokens.set(key, {
      token,
      expires: Date.now() + Math.max(30, (parsed.expires_in ?? 60) - 10) * 1000,
    });
    return `Bearer ${token}`;
  }
}

/** Docker's wording for a registry it cannot reach. */
/** Node's codes for a certificate chain that does not end at a trusted CA. */
const UNKNOWN_AUTHORITY = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
]);

function unreachable(url: string, err: unknown): RegistryError {
  const e = err as NodeJS.ErrnoException;
  const u = new URL(url);
  const detail =
    e.code === 'ECONNREFUSED'
      ? `dial tcp ${u.host}: connect: connection refused`
      : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN'
        ? `dial tcp: lookup ${u.hostname}: no such host`
        : UNKNOWN_AUTHORITY.has(e.code ?? '')
          ? // Go's wording, which users search for; the fix is a CA in certs.d or insecure-registries.
            'tls: failed to verify certificate: x509: certificate signed by unknown authority'
          : e.message;
  return new RegistryError('unavailable', `Get "${u.origin}/v2/": ${detail}`, { cause: err });
}

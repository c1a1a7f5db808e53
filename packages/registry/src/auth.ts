/** A parsed `WWW-Authenticate` challenge (distribution token auth spec). */
export interface AuthChallenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth refresh token Docker stores instead of a password. */
  identityToken?: string;
  /** A bearer token given directly (X-Registry-Auth `registrytoken`). */
  registryToken?: string;
}

export function parseChallenge(header: string | string[] | undefined): AuthChallenge | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const m = /^(\w+)\s*(.*)$/s.exec(value.trim());
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!)))
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  return { scheme, params };
}

export function basicAuthHeader(credentials: Credentials): string | undefined {
  if (credentials.username === undefined) return undefined;
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ''}`).toString('base64')}`;
}

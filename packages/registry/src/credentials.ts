import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { Credentials } from './auth.js';
import { RegistryError } from './errors.js';

/** Docker Hub's key in config.json `auths`, kept for compatibility with the docker CLI. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

const DockerConfigSchema = z
  .object({
    auths: z
      .record(z.object({ auth: z.string().optional(), identitytoken: z.string().optional() }).passthrough())
      .optional(),
    credsStore: z.string().optional(),
    credHelpers: z.record(z.string()).optional(),
  })
  .passthrough();
type DockerConfig = z.infer<typeof DockerConfigSchema>;

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultDockerConfigPath(env: Record<string, string | undefined> = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

/** The config.json key for a registry host: Docker Hub keeps its legacy v1 URL. */
export function authKey(host: string): string {
  return ['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host) ? DOCKER_HUB_AUTH_KEY : host;
}

async function readConfig(path: string): Promise<DockerConfig> {
  const raw = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (raw === undefined || raw.trim() === '') return {};
  const parsed = DockerConfigSchema.safeParse(JSON.parse(raw));
  if (!parsed.success)
    throw new RegistryError('invalid-parameter', `${path}: not a valid docker config file`);
  return parsed.data;
}

async function writeConfig(path: string, config: DockerConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(config, null, '\t')}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

function helperFor(config: DockerConfig, key: string): string | undefined {
  return config.credHelpers?.[key] ?? config.credsStore;
}

/** Runs `docker-credential-<helper> <action>` with the credential-helper protocol. */
function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${helper}`, [action], (err, stdout, stderr) => {
      if (err)
        reject(
          new RegistryError(
            'system',
            `error ${action === 'get' ? 'getting' : action === 'store' ? 'storing' : 'erasing'} credentials - err: ${err.message}, out: \`${(stdout || stderr).trim()}\``,
          ),
        );
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

/** Credentials saved for `host` (by `login`), if any. */
export async function loadCredentials(path: string, host: string): Promise<Credentials | undefined> {
  const config = await readConfig(path);
  const key = authKey(host);
  const helper = helperFor(config, key);
  if (helper) {
    const out = await runHelper(helper, 'get', key).catch(() => undefined);
    if (!out) return undefined;
    const { Username, Secret } = JSON.parse(out) as { Username: string; Secret: string };
    return Username === '<token>' ? { identityToken: Secret } : { username: Username, password: Secret };
  }
  const entry = config.auths?.[key] ?? config.auths?.[`https://${key}`] ?? config.auths?.[`http://${key}`];
  if (!entry) return undefined;
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (!entry.auth) return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

/** Saves credentials the way `docker login` does (file mode 0600, written atomically). */
export async function saveCredentials(
  path: string,
  host: string,
  username: string,
  password: string,
): Promise<void> {
  const config = await readConfig(path);
  const key = authKey(host);
  const helper = helperFor(config, key);
  if (helper) {
    await runHelper(
      helper,
      'store',
      JSON.stringify({ ServerURL: key, Username: username, Secret: password }),
    );
    config.auths = { ...(config.auths ?? {}), [key]: {} };
  } else {
    config.auths = {
      ...(config.auths ?? {}),
      [key]: { auth: Buffer.from(`${username}:${password}`).toString('base64') },
    };
  }
  await writeConfig(path, config);
}

/** Forgets credentials (`docker logout`); returns false when there were none. */
export async function removeCredentials(path: string, host: string): Promise<boolean> {
  const config = await readConfig(path);
  const key = authKey(host);
  const helper = helperFor(config, key);
  if (helper) await runHelper(helper, 'erase', key).catch(() => undefined);
  if (!config.auths || !(key in config.auths)) return helper !== undefined;
  delete config.auths[key];
  await writeConfig(path, config);
  return true;
}

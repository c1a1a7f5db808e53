import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, realpath, rm, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { execa } from 'execa';
import { EngineError, invalidParameter } from './errors.js';

/**
 * Remote build contexts (`POST /build?remote=…`), as moby's classic builder detects and fetches
 * them: a git repository (`https://host/repo.git#ref:subdir`, `git://…`, `git@host:repo`,
 * `github.com/user/repo`), cloned with the `git` binary; or an http(s) URL serving a tar
 * archive (plain or compressed) or a plain-text Dockerfile, which is then built with an empty
 * context. A fetched repository is handed on as a tar stream, so it takes the same path as an
 * uploaded context.
 */

export type RemoteContext = (
  | {
      /** The context as a tar stream (possibly compressed), as an upload would send it. */
      tar: AsyncIterable<Uint8Array>;
    }
  | {
      /** The URL served a Dockerfile on its own: it is built with an empty context. */
      dockerfile: string;
    }
) & {
  /** Removes the clone; call when the build is over. */
  cleanup(): Promise<void>;
};

const URL_PREFIXES = ['http://', 'https://'];
const GIT_PREFIXES = ['git://', 'github.com/', 'git@'];

export function isRemoteUrl(s: string): boolean {
  return URL_PREFIXES.some((p) => s.startsWith(p));
}

/** moby's urlutil.IsGitURL: an http(s) URL whose path ends in `.git` (a `#fragment` may follow), or a git prefix. */
export function isGitUrl(s: string): boolean {
  if (isRemoteUrl(s) && /\.git(?:#.+)?$/.test(s)) return true;
  return GIT_PREFIXES.some((p) => s.startsWith(p));
}

export interface GitRemote {
  /** What `git fetch` is given. */
  url: string;
  /** Branch, tag or commit; undefined for the repository's default branch. */
  ref?: string;
  /** Directory inside the repository to use as the context. */
  subdir?: string;
}

/** `url#ref:subdir` → its parts; a URL without a scheme (`github.com/u/r`) is https. */
export function parseGitRemote(remote: string): GitRemote {
  let url = remote;
  if (!isRemoteUrl(url) && !url.startsWith('git://') && !url.startsWith('git@')) url = `https://${url}`;
  const hash = url.indexOf('#');
  const fragment = hash < 0 ? '' : url.slice(hash + 1);
  if (hash >= 0) url = url.slice(0, hash);
  const colon = fragment.indexOf(':');
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? '' : fragment.slice(colon + 1);
  // A ref or URL starting with `-` would be read by git as an option.
  if (ref.startsWith('-')) throw invalidParameter(`invalid refspec: ${ref}`);
  if (url.startsWith('-')) throw invalidParameter(`invalid git URL: ${url}`);
  return { url, ...(ref !== '' ? { ref } : {}), ...(subdir !== '' ? { subdir } : {}) };
}

/**
 * Runs git in `dir`; refuses the `file` and `ext` transports (a repository's submodules could
 * name local paths), and starts no background maintenance that would outlive the clone.
 */
async function git(dir: string, args: string[]): Promise<void> {
  const config = ['protocol.file.allow=never', 'gc.auto=0', 'maintenance.auto=false'];
  const result = await execa('git', [...config.flatMap((c) => ['-c', c]), ...args], {
    cwd: dir,
    reject: false,
    stdin: 'ignore',
    all: true,
    env: {
      // Transports the URL names itself: only those allowed for any user (no ext::, no file://).
      GIT_PROTOCOL_FROM_USER: '0',
      // Never wait for credentials on a terminal the daemon does not have.
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes',
    },
  });
  if (result.failed) {
    const why =
      result.exitCode !== undefined ? `exit status ${result.exitCode}` : String(result.shortMessage);
    throw new EngineError('system', `${String(result.all ?? '').trim()}: ${why}`);
  }
}

/**
 * Whether a shallow fetch works: always but over http(s), where only a "smart" server (one
 * answering the upload-pack service query) supports it, as moby checks.
 */
async function supportsShallow(url: string): Promise<boolean> {
  if (!isRemoteUrl(url)) return true;
  const probe = `${url}/info/refs?service=git-upload-pack`;
  try {
    const res = await fetch(probe, {
      method: 'GET',
      redirect: 'follow',
      signal: AbortSignal.timeout(30_000),
    });
    await res.body?.cancel();
    return res.headers.get('content-type') === 'application/x-git-upload-pack-advertisement';
  } catch (err) {
    // The fetch below reports an unreachable server with git's own words.
    if (err instanceof Error) return false;
    throw err;
  }
}

const SCRATCH_PREFIX = 'build-git-';

/** A scratch directory under the daemon's data root, for one remote context. */
async function scratchDir(engine: { options: { dataRoot: string } }): Promise<string> {
  const parent = join(engine.options.dataRoot, 'tmp');
  await mkdir(parent, { recursive: true, mode: 0o700 });
  return mkdtemp(join(parent, SCRATCH_PREFIX));
}

/** Clones a git remote (shallow where the server and ref allow); returns the context directory inside it. */
export async function cloneGitContext(root: string, remote: GitRemote): Promise<string> {
  const wrap = (what: string) => (err: unknown) => {
    throw new EngineError('system', `${what}: ${(err as Error).message}`, { cause: err });
  };
  await git(root, ['init', '--quiet']).catch(wrap(`failed to init repo at ${root}`));
  await git(root, ['remote', 'add', 'origin', remote.url]).catch(wrap('error trying to use git'));
  const ref = remote.ref ?? 'HEAD';
  const shallow = await supportsShallow(remote.url);
  try {
    await git(root, ['fetch', ...(shallow ? ['--depth', '1'] : []), 'origin', '--', ref]);
  } catch (err) {
    // A commit ID cannot always be fetched by name (servers refuse unadvertised objects):
    // fetch everything, then check the commit out.
    if (!/^[0-9a-f]{7,40}$/.test(ref)) wrap('error fetching')(err);
    await git(root, ['fetch', 'origin']).catch(wrap('error fetching'));
  }
  // A branch name gives a branch (as moby does); anything else is the fetched commit.
  try {
    await git(root, ['checkout', '--quiet', ref === 'HEAD' ? 'FETCH_HEAD' : ref]);
  } catch (err) {
    await git(root, ['checkout', '--quiet', 'FETCH_HEAD']).catch(() =>
      wrap(`error checking out ${ref}`)(err),
    );
  }
  await git(root, ['submodule', 'update', '--init', '--recursive', '--depth=1']).catch(
    wrap('error initializing submodules'),
  );
  if (remote.subdir === undefined) return root;
  // The subdirectory, links followed, must stay inside the clone.
  const top = await realpath(root);
  const dir = await realpath(join(root, remote.subdir)).catch(() => undefined);
  if (dir === undefined || (dir !== top && !dir.startsWith(`${top}${sep}`)))
    throw new EngineError('system', `error setting git context, "${remote.subdir}" not within git root`);
  if (!(await stat(dir)).isDirectory())
    throw new EngineError('system', `error setting git context, not a directory: ${dir}`);
  return dir;
}

/**
 * Archives the directory into `file`, owned by root as the docker CLI sends contexts. Written
 * to a file and not streamed from the child: Node drains a finished child's unread stdout.
 */
async function archiveDirectory(dir: string, file: string): Promise<void> {
  const r = await execa('tar', ['-cf', file, '--numeric-owner', '--owner=0', '--group=0', '-C', dir, '.'], {
    reject: false,
    stdin: 'ignore',
  });
  if (r.exitCode !== 0)
    throw new EngineError('system', `error archiving the git context: ${String(r.stderr).trim()}`);
}

/** moby's acceptable remote context types: tar archives (plain or compressed) and plain text. */
const ACCEPTABLE_MIME =
  /^(?:application\/(?:(?:x-)?tar|octet-stream|(?:x-)?(?:gzip|bzip2?|xz))|text\/plain)$/;

/** moby's detection for an unnamed or octet-stream type: compressed data is an archive, text is a Dockerfile. */
function detectContentType(preamble: Buffer): string {
  if (preamble[0] === 0x1f && preamble[1] === 0x8b) return 'application/x-tar';
  if (preamble.subarray(0, 3).toString('latin1') === 'BZh') return 'application/x-tar';
  if (preamble.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])))
    return 'application/x-tar';
  // Text is what has no binary bytes, as Go's http.DetectContentType decides.
  const binary = preamble.some(
    (b) => b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f),
  );
  return binary ? 'application/octet-stream' : 'text/plain';
}

/** Downloads an http(s) context: a tar stream, or a Dockerfile's text. */
async function downloadContext(
  url: string,
): Promise<{ tar: AsyncIterable<Uint8Array> } | { dockerfile: string }> {
  const failed = (why: string, cause?: unknown) =>
    new EngineError('system', `error downloading remote context ${url}: ${why}`, { cause });
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow' });
  } catch (err) {
    throw failed((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message, err);
  }
  if (res.status >= 400) {
    const body = (await res.text()).trim();
    throw failed(`failed to GET ${url} with status ${res.status} ${res.statusText}: ${body}`);
  }
  const reader = res.body?.getReader();
  const first = reader ? await reader.read() : { done: true, value: undefined };
  const preamble = Buffer.from(first.value ?? []);
  if (preamble.length === 0) throw new EngineError('system', 'empty response');
  let type = res.headers.get('content-type') ?? '';
  if (type === '' || type === 'application/octet-stream') type = detectContentType(preamble);
  const mediaType = type.split(';', 1)[0]!.trim().toLowerCase();
  if (!ACCEPTABLE_MIME.test(mediaType)) {
    await reader?.cancel();
    throw new EngineError('system', `unsupported Content-Type "${mediaType}"`);
  }
  async function* body(): AsyncGenerator<Uint8Array> {
    yield preamble;
    if (!reader || first.done) return;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  }
  if (mediaType === 'text/plain') {
    const chunks: Buffer[] = [];
    for await (const c of body()) chunks.push(Buffer.from(c));
    return { dockerfile: Buffer.concat(chunks).toString('utf8') };
  }
  return { tar: body() };
}

/** Fetches `remote` (the `remote` parameter of `POST /build`) into a context to build. */
export async function fetchRemoteContext(
  engine: { options: { dataRoot: string } },
  remote: string,
): Promise<RemoteContext> {
  if (isGitUrl(remote)) {
    const parsed = parseGitRemote(remote);
    const scratch = await scratchDir(engine);
    const cleanup = () => rm(scratch, { recursive: true, force: true });
    try {
      const root = join(scratch, 'repo');
      await mkdir(root);
      const dir = await cloneGitContext(root, parsed);
      const archive = join(scratch, 'context.tar');
      await archiveDirectory(dir, archive);
      return { tar: createReadStream(archive), cleanup };
    } catch (err) {
      await cleanup();
      throw err;
    }
  }
  if (isRemoteUrl(remote)) {
    const got = await downloadContext(remote);
    return { ...got, cleanup: async () => {} };
  }
  throw invalidParameter(`remoteURL (${remote}) could not be recognized as URL`);
}

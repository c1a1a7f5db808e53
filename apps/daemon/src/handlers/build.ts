import { finished } from 'node:stream/promises';
import {
  BUILD_SENT_SOURCES_PARAM,
  BuildArgsSchema,
  BuildCacheFromSchema,
  BuildLabelsSchema,
  BuildSentSourcesSchema,
  BuildUlimitsSchema,
  type HostConfig,
} from '@ts-container/api';
import {
  type BuildDeps,
  type BuildFromContextOptions,
  buildFromRemote,
  buildFromTar,
  pruneBuildCache,
} from '@ts-container/engine';
import type { z } from 'zod';
import { HttpError, type RequestContext, boolParam, messageFor, sendJson } from '../http.js';
import type { Router } from '../router.js';

function jsonParam<T>(query: URLSearchParams, name: string, schema: z.ZodType<T>): T | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new HttpError(400, `invalid ${name} value: ${raw}`);
  }
  // Go's decoder reads `null` as an empty value: docker CLI 20.10 sends `ulimits=null`.
  if (parsed === null) return undefined;
  const result = schema.safeParse(parsed);
  if (!result.success) throw new HttpError(400, `invalid ${name} value: ${raw}`);
  return result.data;
}

/** Go's operating systems and architectures, which containerd's platform parser knows. */
const KNOWN_OS = new Set(
  'aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris wasip1 windows zos'.split(
    ' ',
  ),
);
const KNOWN_ARCH = new Set(
  '386 amd64 amd64p32 arm armbe arm64 arm64be aarch64 x86_64 i386 armhf armel loong64 mips mipsle mips64 mips64le ppc ppc64 ppc64le riscv riscv64 s390 s390x sparc sparc64 wasm'.split(
    ' ',
  ),
);

/** `platform` as containerd parses it: `os[/arch[/variant]]`, or an architecture alone. */
function checkPlatform(value: string): void {
  const parts = value.toLowerCase().split('/');
  const bad = (what: string) =>
    new HttpError(400, `${JSON.stringify(value)}: unknown ${what}: invalid argument`);
  if (parts.length > 3 || parts.some((p) => p === ''))
    throw new HttpError(400, `${JSON.stringify(value)}: invalid platform`);
  if (parts.length === 1) {
    if (!KNOWN_OS.has(parts[0]!) && !KNOWN_ARCH.has(parts[0]!)) throw bad('operating system or architecture');
    return;
  }
  if (!KNOWN_OS.has(parts[0]!)) throw bad('operating system');
  if (!KNOWN_ARCH.has(parts[1]!)) throw bad('architecture');
}

/** An integer parameter moby reads leniently: absent or unparsable means unset. */
function lenientInt(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '' || !/^-?\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return n === 0 ? undefined : n;
}

/**
 * The RUN containers' host settings from the query: network, extra hosts, shm size and the
 * resource limits, as the docker CLI's `--network`, `--add-host`, `--shm-size`, `-m`, … send them.
 */
function runHostConfigOf(query: URLSearchParams): HostConfig {
  const hc: HostConfig = {};
  const network = query.get('networkmode');
  if (network && network !== 'default') hc.NetworkMode = network;
  // `host:ip` (the docker CLI's form) or `host=ip`; /etc/hosts lines are `ip<TAB>host`.
  const extraHosts = query
    .getAll('extrahosts')
    .flatMap((v) => v.split(','))
    .filter((v) => v !== '');
  if (extraHosts.length > 0) hc.ExtraHosts = extraHosts.map((h) => h.replace('=', ':'));
  const ints: Array<[string, 'ShmSize' | 'Memory' | 'MemorySwap' | 'CpuShares' | 'CpuPeriod' | 'CpuQuota']> =
    [
      ['shmsize', 'ShmSize'],
      ['memory', 'Memory'],
      ['memswap', 'MemorySwap'],
      ['cpushares', 'CpuShares'],
      ['cpuperiod', 'CpuPeriod'],
      ['cpuquota', 'CpuQuota'],
    ];
  for (const [param, field] of ints) {
    const v = lenientInt(query, param);
    if (v !== undefined) hc[field] = v;
  }
  const cpusetCpus = query.get('cpusetcpus');
  if (cpusetCpus) hc.CpusetCpus = cpusetCpus;
  const cpusetMems = query.get('cpusetmems');
  if (cpusetMems) hc.CpusetMems = cpusetMems;
  const securityOpt = query.getAll('securityopt').filter((v) => v !== '');
  if (securityOpt.length > 0) hc.SecurityOpt = securityOpt;
  const ulimits = jsonParam(query, 'ulimits', BuildUlimitsSchema);
  if (ulimits && ulimits.length > 0) hc.Ulimits = ulimits;
  return hc;
}

/**
 * `POST /build`: the classic builder API. The body is the build context as a tar (or, with
 * `remote`, a git repository or URL is fetched instead); progress is a stream of JSON messages
 * in moby's order: `{"stream":"Step 1/3 : FROM busybox\n"}` …, RUN stderr wrapped in red
 * (`\u001b[91m…\u001b[0m`), `{"aux":{"ID":"sha256:…"}}` per built stage, then
 * `Successfully built …` and `Successfully tagged …`, which clients read as the last lines. A
 * failure after the first message is an `{"errorDetail":{…},"error":…}` line, which is what the
 * docker CLI and compose parse.
 */
async function postBuild(deps: BuildDeps, { req, res, query }: RequestContext): Promise<void> {
  if (query.get('version') === '2')
    throw new HttpError(400, 'BuildKit is not supported by this daemon: use the classic builder (version=1)');
  if (boolParam(query, 'squash')) throw new HttpError(400, 'squash is only supported with experimental mode');
  const isolation = query.get('isolation');
  if (isolation && isolation !== 'default') throw new HttpError(400, `Unsupported isolation: "${isolation}"`);
  const remote = query.get('remote');
  const buildArgs = jsonParam(query, 'buildargs', BuildArgsSchema) ?? {};
  const labels = jsonParam(query, 'labels', BuildLabelsSchema);
  const cacheFrom = jsonParam(query, 'cachefrom', BuildCacheFromSchema);
  const quiet = boolParam(query, 'q');
  const tags = query.getAll('t').filter((t) => t !== '');
  const target = query.get('target');
  const platform = query.get('platform');
  if (platform) checkPlatform(platform);
  const dockerfile = query.get('dockerfile');
  const sentSources = jsonParam(query, BUILD_SENT_SOURCES_PARAM, BuildSentSourcesSchema);

  let started = false;
  let ended = false;
  const send = (msg: object) => {
    if (!started) {
      started = true;
      res.writeHead(200, { 'Content-Type': 'application/json' });
    }
    res.write(`${JSON.stringify(msg)}\n`);
  };
  const options: BuildFromContextOptions = {
    tags,
    buildArgs: Object.fromEntries(Object.entries(buildArgs).map(([k, v]) => [k, v ?? undefined])),
    noCache: boolParam(query, 'nocache'),
    removeIntermediate: boolParam(query, 'rm', true),
    forceRemove: boolParam(query, 'forcerm'),
    pull: boolParam(query, 'pull'),
    runHostConfig: runHostConfigOf(query),
    ...(cacheFrom ? { cacheFrom } : {}),
    ...(dockerfile ? { dockerfile } : {}),
    // A remote context is fetched whole.
    ...(sentSources && !remote ? { sentSources } : {}),
    ...(target ? { target } : {}),
    ...(platform ? { platform } : {}),
    ...(labels ? { labels } : {}),
    onPullProgress: (e) => {
      if (!quiet) send(e);
    },
    onImage: (id) => send({ aux: { ID: id } }),
    // The answer ends as soon as the image is built; the context's temporary files go after.
    onBuilt: (result) => end(result),
  };
  const end = (result: { imageId: string }) => {
    if (ended) return;
    ended = true;
    // With -q the image ID is the only output, which the docker CLI prints as is.
    if (quiet) send({ stream: `${result.imageId}\n` });
    res.end();
  };
  const onProgress = (message: string, stream?: 'stdout' | 'stderr') => {
    if (quiet) return;
    // moby's stderr formatter: what RUN wrote to stderr, in red.
    send({ stream: stream === 'stderr' ? `\u001b[91m${message}\u001b[0m` : message });
  };
  try {
    const result = remote
      ? await buildFromRemote(deps, remote, options, onProgress)
      : await buildFromTar(deps, req, options, onProgress);
    end(result);
  } catch (err) {
    // Removing the temporary files failed after the answer: reported (logged) once it is out.
    if (ended) {
      await finished(res).catch(() => undefined);
      throw err;
    }
    // Before the first message the error is an ordinary HTTP error (as moby does), which the
    // docker CLI prints as `Error response from daemon: …`.
    if (!started) throw err;
    const message = messageFor(err);
    const code = (err as { exitCode?: unknown }).exitCode;
    send({
      errorDetail: { ...(typeof code === 'number' ? { code } : {}), message },
      error: message,
    });
    res.end();
  }
}

/**
 * `deps` is one object for the daemon's life: the build cache index is kept per deps object
 * (see buildCacheOf), so that concurrent builds and prune share it.
 */
export function registerBuild(router: Router, deps: BuildDeps): void {
  router.add('POST', '/build', (ctx) => postBuild(deps, ctx));
  router.add('POST', '/build/prune', async ({ res, query }) => {
    const all = boolParam(query, 'all');
    // Cache entries only point at images (removed with `image prune`): no space is freed here.
    await pruneBuildCache(deps, { all });
    sendJson(res, 200, { CachesDeleted: [], SpaceReclaimed: 0 });
  });
}

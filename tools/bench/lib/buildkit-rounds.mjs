// The BuildKit comparison rows: Docker with BuildKit against our daemon through the same client.
// Docker CLI 28 here has no buildx plugin, so dockerd's BuildKit is reached through Debian's
// docker CLI 20.10; our daemon is timed through that same CLI (classic /build API), since the two
// CLIs differ by themselves on large contexts (see clientFloors).
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { coldAndCachedRounds } from './common.mjs';
import { run } from './proc.mjs';
import { summarize } from './stats.mjs';

export const DEBIAN_CLI = '/usr/bin/docker';

/**
 * Cold (`--no-cache`) and cached builds of `context`, interleaved: ours through Debian's CLI with
 * DOCKER_BUILDKIT=0, Docker through it with DOCKER_BUILDKIT=1. Undefined without Docker or the CLI.
 */
export async function buildKitRounds(ctx, { context, tag }) {
  const docker = ctx.engines.docker;
  const ours = ctx.engines['docker→tsctrd'];
  if (!docker || !ours || !existsSync(DEBIAN_CLI)) return undefined;
  const build = (e, extra) =>
    run(DEBIAN_CLI, ['build', ...extra, '-t', tag, context], {
      env: { ...e.env, DOCKER_BUILDKIT: e.id === 'docker' ? '1' : '0' },
      timeoutMs: 600_000,
    });
  const { cold, cached } = await coldAndCachedRounds(ctx, ['docker→tsctrd', 'docker'], build);
  for (const e of [docker, ours]) await e.cli(['rmi', '-f', tag], { check: false });
  return { cold, cached };
}

export const BUILDKIT_NOTE =
  "both columns through Debian's docker CLI 20.10: Docker with DOCKER_BUILDKIT=1, ours with DOCKER_BUILDKIT=0 (the classic /build API)";

/**
 * What each docker CLI spends by itself on a classic build of `context`: `docker build` against
 * a server that answers /_ping and /version and reads and discards the uploaded context. A
 * build through that CLI cannot take less. Medians in ms, by CLI path.
 */
export async function clientFloors(ctx, context) {
  const socket = join(ctx.root, 'null-daemon.sock');
  await rm(socket, { force: true });
  const server = createServer((req, res) => {
    res.setHeader('Api-Version', '1.41');
    if (req.url.endsWith('/_ping')) return res.end('OK');
    if (req.url.endsWith('/version')) {
      res.setHeader('Content-Type', 'application/json');
      return res.end(
        JSON.stringify({ ApiVersion: '1.41', MinAPIVersion: '1.12', Os: 'linux', Arch: 'amd64' }),
      );
    }
    req.resume();
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      res.end(`${JSON.stringify({ stream: 'Successfully built 000000000000\n' })}\n`);
    });
  });
  await new Promise((resolve) => server.listen(socket, resolve));
  try {
    const floors = {};
    for (const cli of ['/usr/local/bin/docker', DEBIAN_CLI]) {
      if (!existsSync(cli)) continue;
      const env = {
        PATH: process.env.PATH,
        HOME: ctx.root,
        DOCKER_HOST: `unix://${socket}`,
        DOCKER_BUILDKIT: '0',
      };
      const samples = [];
      for (let i = 0; i < (ctx.quick ? 3 : 5); i++)
        samples.push((await run(cli, ['build', '-q', context], { env })).ms);
      floors[cli] = summarize(samples).median;
    }
    return floors;
  } finally {
    server.close();
    await rm(socket, { force: true });
  }
}

/** The floors as a note's sentence. */
export function floorsNote(floors) {
  const parts = Object.entries(floors).map(([cli, ms]) => `${cli} ${Math.round(ms)} ms`);
  return parts.length
    ? `the CLI alone against a server that discards the context (a build through it cannot be faster): ${parts.join(', ')}`
    : '';
}

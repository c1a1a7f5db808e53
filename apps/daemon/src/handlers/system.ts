import { release } from 'node:os';
import { API_VERSION, MIN_API_VERSION } from '@ts-container/api';
import { ENGINE_VERSION, type Engine } from '@ts-container/engine';
import { execa } from 'execa';
import { type RequestContext, sendJson } from '../http.js';
import type { Router } from '../router.js';

export function pingHeaders(): Record<string, string> {
  return {
    'Api-Version': API_VERSION,
    Ostype: 'linux',
    // The classic /build endpoint; BuildKit is not offered.
    'Builder-Version': '1',
    'Docker-Experimental': 'false',
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    Pragma: 'no-cache',
  };
}

export function registerSystem(router: Router, engine: Engine): void {
  const ping = async ({ req, res }: RequestContext) => {
    res.writeHead(200, {
      ...pingHeaders(),
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': 2,
    });
    res.end(req.method === 'HEAD' ? undefined : 'OK');
  };
  router.add('GET', '/_ping', ping);
  router.add('HEAD', '/_ping', ping);

  router.add('GET', '/version', async ({ res }) => {
    const runtime = engine.runtime.oci.info;
    const [runtimeVersion, conmonVersion] = await Promise.all([
      toolVersion(runtime.path),
      toolVersion('conmon'),
    ]);
    const details = {
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: ENGINE_VERSION,
      GoVersion: `node${process.versions.node}`,
      Os: 'linux',
      Arch: goArch(),
      KernelVersion: release(),
      Experimental: 'false',
      BuildTime: '',
    };
    sendJson(res, 200, {
      Platform: { Name: 'ts-container Engine' },
      Components: [
        { Name: 'Engine', Version: ENGINE_VERSION, Details: details },
        {
          Name: runtime.name,
          Version: runtimeVersion.version,
          Details: { GitCommit: runtimeVersion.commit },
        },
        { Name: 'conmon', Version: conmonVersion.version, Details: { GitCommit: conmonVersion.commit } },
      ],
      Version: ENGINE_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: ENGINE_VERSION,
      GoVersion: `node${process.versions.node}`,
      Os: 'linux',
      Arch: goArch(),
      KernelVersion: release(),
      Experimental: false,
      BuildTime: '',
    });
  });

  router.add('GET', '/info', async ({ res }) => {
    sendJson(res, 200, await engine.info());
  });

  router.add('GET', '/events', async ({ res, req }) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const onEvent = (e: {
      Type: string;
      Action: string;
      id: string;
      record: { Name: string; Config: { Image?: string } };
    }) => {
      const now = Date.now();
      res.write(
        `${JSON.stringify({
          status: e.Action,
          id: e.id,
          from: e.record.Config.Image,
          Type: e.Type,
          Action: e.Action,
          Actor: {
            ID: e.id,
            Attributes: { name: e.record.Name.slice(1), image: e.record.Config.Image ?? '' },
          },
          scope: 'local',
          time: Math.floor(now / 1000),
          timeNano: now * 1_000_000,
        })}\n`,
      );
    };
    engine.containers.events.on('event', onEvent);
    req.on('close', () => engine.containers.events.off('event', onEvent));
  });
}

const versions = new Map<string, Promise<{ version: string; commit: string }>>();

/** `runc --version` / `conmon --version`, asked once per daemon. */
function toolVersion(path: string): Promise<{ version: string; commit: string }> {
  let found = versions.get(path);
  if (!found) {
    found = execa(path, ['--version'], { reject: false }).then((r) => ({
      version: /version:?\s+([^\s]+)/.exec(r.stdout)?.[1] ?? '',
      commit: /commit:\s+([^\s]+)/.exec(r.stdout)?.[1] ?? '',
    }));
    versions.set(path, found);
  }
  return found;
}

function goArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

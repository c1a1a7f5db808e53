import { EventEmitter } from 'node:events';
import { release } from 'node:os';
import { API_VERSION, MIN_API_VERSION, labelFilterMatches } from '@ts-container/api';
import { ENGINE_VERSION, type Engine } from '@ts-container/engine';
import { execa } from 'execa';
import { HttpError, type RequestContext, filtersParam, sendJson } from '../http.js';
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

  const journal = new EventJournal();
  engine.containers.events.on('event', (e: ContainerEvent) => journal.record(e));

  router.add('GET', '/events', async ({ res, req, query }) => {
    const filters = filtersParam(query);
    for (const key of filters.keys())
      if (!EVENT_FILTERS.has(key)) throw new HttpError(400, `invalid filter '${key}'`);
    const since = eventTimeParam(query.get('since'));
    const until = eventTimeParam(query.get('until'));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const send = (m: EventMessage) => {
      if (matchesEventFilters(m, filters)) res.write(`${eventJson(m)}\n`);
    };
    // `since` replays what the daemon still remembers; `until` in the past ends at once.
    if (since !== undefined)
      for (const m of journal.recent())
        if (m.time >= Math.floor(since) && (until === undefined || m.time <= until)) send(m);
    if (until !== undefined && until <= Date.now() / 1000) {
      res.end();
      return;
    }
    const onMessage = (m: EventMessage) => send(m);
    journal.on('message', onMessage);
    const timer =
      until !== undefined ? setTimeout(() => res.end(), until * 1000 - Date.now()).unref() : undefined;
    const stop = () => {
      journal.off('message', onMessage);
      if (timer) clearTimeout(timer);
    };
    req.on('close', stop);
    res.on('finish', stop);
  });
}

interface ContainerEvent {
  Type: string;
  Action: string;
  id: string;
  record: {
    Name: string;
    Config: { Image?: string; Labels?: Record<string, string> | null };
    State: { ExitCode?: number };
  };
}

interface EventMessage {
  status: string;
  id: string;
  from: string;
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: bigint;
}

const EVENT_FILTERS = new Set(['container', 'event', 'type', 'label', 'image', 'scope']);

/** The last events, for `--since`, and a feed of new ones. */
class EventJournal extends EventEmitter {
  private readonly messages: EventMessage[] = [];
  private static readonly KEEP = 1024;

  record(e: ContainerEvent): void {
    const now = Date.now();
    const image = e.record.Config.Image ?? '';
    const attributes: Record<string, string> = {
      ...(e.record.Config.Labels ?? {}),
      image,
      name: e.record.Name.replace(/^\//, ''),
    };
    if (e.Action === 'die') attributes.exitCode = String(e.record.State.ExitCode ?? 0);
    const message: EventMessage = {
      status: e.Action,
      id: e.id,
      from: image,
      Type: e.Type,
      Action: e.Action,
      Actor: { ID: e.id, Attributes: attributes },
      scope: 'local',
      time: Math.floor(now / 1000),
      timeNano: BigInt(now) * 1_000_000n,
    };
    this.messages.push(message);
    if (this.messages.length > EventJournal.KEEP) this.messages.shift();
    this.emit('message', message);
  }

  recent(): readonly EventMessage[] {
    return this.messages;
  }
}

/** timeNano exceeds 2^53: it goes out as the exact integer, not a rounded double. */
function eventJson(m: EventMessage): string {
  return JSON.stringify({ ...m, timeNano: '@@' }).replace('"@@"', m.timeNano.toString());
}

function matchesEventFilters(m: EventMessage, filters: Map<string, string[]>): boolean {
  for (const [key, values] of filters) {
    const test = (v: string): boolean => {
      switch (key) {
        case 'container':
          return m.id.startsWith(v) || m.Actor.Attributes.name === v;
        case 'event':
          return m.Action === v;
        case 'type':
          return m.Type === v;
        case 'image':
          return m.from === v || m.from === `${v}:latest`;
        case 'scope':
          return v === 'local';
        default:
          return labelFilterMatches(m.Actor.Attributes, v);
      }
    };
    if (!(key === 'label' ? values.every(test) : values.some(test))) return false;
  }
  return true;
}

/** `since`/`until`: Unix seconds (with an optional fraction), as the docker CLI sends them. */
function eventTimeParam(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  const n = Number(value);
  if (Number.isFinite(n)) return n;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new HttpError(400, `invalid timestamp: ${value}`);
  return t / 1000;
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

import { API_VERSION, TSCTR_FEATURES, TSCTR_FEATURES_HEADER } from '@ts-container/api';
import {
  type EventJournal,
  type EventMessage,
  type SystemService,
  eventTimestamp,
} from '@ts-container/engine';
import { type RequestContext, filtersParam, sendJson } from '../http.js';
import type { Router } from '../router.js';

/** `/_ping`'s answer headers, made once (the call clients make most). */
const PING_HEADERS = {
  'Api-Version': API_VERSION,
  Ostype: 'linux',
  // The classic /build endpoint; BuildKit is not offered.
  'Builder-Version': '1',
  'Docker-Experimental': 'false',
  // What tsctr may use beyond Docker's API (a daemon without it is sent plain Docker requests).
  [TSCTR_FEATURES_HEADER]: TSCTR_FEATURES.join(' '),
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  Pragma: 'no-cache',
  'Content-Type': 'text/plain; charset=utf-8',
  'Content-Length': 2,
} as const;
const PONG = Buffer.from('OK');

export interface SystemDeps {
  system: Pick<SystemService, 'version'>;
  events: Pick<EventJournal, 'watch'>;
  /** `docker info` (the engine's `info`). */
  info(): Promise<Record<string, unknown>>;
}

export function registerSystem(router: Router, deps: SystemDeps): void {
  const ping = async ({ req, res }: RequestContext) => {
    res.writeHead(200, PING_HEADERS);
    res.end(req.method === 'HEAD' ? undefined : PONG);
  };
  router.add('GET', '/_ping', ping);
  router.add('HEAD', '/_ping', ping);

  router.add('GET', '/version', async ({ res }) => {
    sendJson(res, 200, await deps.system.version());
  });

  router.add('GET', '/info', async ({ res }) => {
    sendJson(res, 200, await deps.info());
  });

  router.add('GET', '/events', async ({ res, req, query }) => {
    const since = eventTimestamp(query.get('since'));
    const until = eventTimestamp(query.get('until'));
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
    };
    const stop = deps.events.watch(
      {
        filters: filtersParam(query),
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
      },
      (m) => {
        start();
        res.write(`${eventJson(m)}\n`);
      },
      () => {
        start();
        res.end();
      },
    );
    start();
    req.on('close', stop);
    res.on('finish', stop);
  });
}

/** timeNano exceeds 2^53: it goes out as the exact integer, not a rounded double. */
function eventJson(m: EventMessage): string {
  return JSON.stringify({ ...m, timeNano: '@@' }).replace('"@@"', m.timeNano.toString());
}

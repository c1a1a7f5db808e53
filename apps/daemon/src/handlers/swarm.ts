import { EngineError, NO_SWARM, SwarmInitSchema, type SwarmService } from '@ts-container/engine';
import { readJson, sendEmpty, sendJson } from '../http.js';
import type { Router } from '../router.js';

const JOIN_UNSUPPORTED =
  'Swarm mode join is not supported by this engine: it can only be a single-node swarm';
const UNSUPPORTED: Record<string, string> = {
  services: 'Swarm services are not supported by this engine (single-node swarm: overlay networks only)',
  secrets: 'Swarm secrets are not supported by this engine (single-node swarm: overlay networks only)',
  configs: 'Swarm configs are not supported by this engine (single-node swarm: overlay networks only)',
  nodes: 'Updating or removing swarm nodes is not supported by this engine (single-node swarm)',
};
/** moby's not-found text per object kind (`service x not found`). */
const SINGULAR: Record<string, string> = {
  services: 'service',
  tasks: 'task',
  secrets: 'secret',
  configs: 'config',
};

/**
 * Single-node swarm mode (see SwarmService): init, leave, inspect, this node, and empty lists of
 * services, tasks, secrets and configs. Outside a swarm every cluster endpoint answers moby's 503.
 */
export interface SwarmDeps {
  swarm: Pick<SwarmService, 'active' | 'init' | 'leave' | 'inspect' | 'assertManager' | 'nodes' | 'findNode'>;
}

export function registerSwarm(router: Router, deps: SwarmDeps): void {
  const swarm = () => deps.swarm;

  router.add('POST', '/swarm/init', async ({ req, res }) => {
    const body = SwarmInitSchema.parse(await readJson(req));
    sendJson(res, 200, await swarm().init(body));
  });
  router.add('POST', '/swarm/join', async () => {
    if (swarm().active)
      throw new EngineError(
        'unavailable',
        'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.',
      );
    throw new EngineError('unavailable', JOIN_UNSUPPORTED);
  });
  router.add('POST', '/swarm/leave', async ({ res, query }) => {
    const force = ['1', 'true', 'True'].includes(query.get('force') ?? '');
    await swarm().leave(force);
    sendEmpty(res, 200);
  });
  router.add('GET', '/swarm', async ({ res }) => {
    sendJson(res, 200, swarm().inspect());
  });
  router.add('GET', '/swarm/unlockkey', async () => {
    swarm().assertManager();
    throw new EngineError('not-found', 'no unlock key is set');
  });
  router.add('POST', '/swarm/unlock', async () => {
    if (!swarm().active) throw new EngineError('unavailable', NO_SWARM);
    throw new EngineError('unavailable', 'swarm is not locked');
  });
  router.add('POST', '/swarm/update', async () => {
    swarm().assertManager();
    throw new EngineError('not-implemented', 'Updating the swarm is not supported by this engine');
  });

  router.add('GET', '/nodes', async ({ res }) => {
    sendJson(res, 200, swarm().nodes());
  });
  router.add('GET', '/nodes/{id}', async ({ res, params }) => {
    sendJson(res, 200, swarm().findNode(params.id!));
  });
  const refuse = (kind: string) => async () => {
    swarm().assertManager();
    throw new EngineError('not-implemented', UNSUPPORTED[kind] ?? `${kind} are not supported`);
  };
  router.add('POST', '/nodes/{rest*}', refuse('nodes')).add('DELETE', '/nodes/{rest*}', refuse('nodes'));

  for (const [kind, singular] of Object.entries(SINGULAR)) {
    router.add('GET', `/${kind}`, async ({ res }) => {
      swarm().assertManager();
      sendJson(res, 200, []);
    });
    // None exist: looking one up (or its logs), updating or removing it is a plain not-found.
    const missing = async ({ params }: { params: Record<string, string> }) => {
      swarm().assertManager();
      const id = (params.rest ?? '').split('/')[0] ?? '';
      throw new EngineError('not-found', `${singular} ${id} not found`);
    };
    router.add('GET', `/${kind}/{rest*}`, missing).add('DELETE', `/${kind}/{rest*}`, missing);
    if (kind === 'tasks') continue;
    router.add('POST', `/${kind}/create`, refuse(kind));
    router.add('POST', `/${kind}/{rest*}`, missing);
  }
}

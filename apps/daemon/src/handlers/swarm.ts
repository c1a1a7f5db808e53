import { EngineError } from '@ts-container/engine';
import type { Router } from '../router.js';

/** moby's errNoSwarm: leaving a swarm this node never joined. */
const NO_SWARM = 'This node is not part of a swarm';
/** moby's errNoManager: every cluster query on a node outside any swarm. */
const NO_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const NOT_SUPPORTED = 'Swarm mode is not supported by this engine';

/**
 * Swarm mode is not implemented: every Swarm endpoint answers as a Docker engine that is not part
 * of a swarm (503), so clients that probe or leave a swarm (docker-py's `leave_swarm(force=True)`)
 * carry on. Creating or joining one fails with 503 too.
 */
export function registerSwarm(router: Router): void {
  const fail = (message: string) => async () => {
    throw new EngineError('unavailable', message);
  };
  router.add('POST', '/swarm/init', fail(NOT_SUPPORTED));
  router.add('POST', '/swarm/join', fail(NOT_SUPPORTED));
  router.add('POST', '/swarm/leave', fail(NO_SWARM));
  router.add('GET', '/swarm', fail(NO_MANAGER));
  router.add('GET', '/swarm/unlockkey', fail(NO_MANAGER));
  router.add('POST', '/swarm/unlock', fail(NO_MANAGER));
  router.add('POST', '/swarm/update', fail(NO_MANAGER));
  for (const kind of ['services', 'nodes', 'tasks', 'secrets', 'configs']) {
    for (const method of ['GET', 'POST', 'DELETE'])
      router.add(method, `/${kind}`, fail(NO_MANAGER)).add(method, `/${kind}/{rest*}`, fail(NO_MANAGER));
  }
}

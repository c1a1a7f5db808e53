import type { Server } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** How long the daemon must be quiet (no request started or finished) before it collects. */
export const QUIET_MS = 10_000;

type Collect = () => void;

/** V8's full collection, exposed at run time (the daemon is started as plain `node`, without --expose-gc). */
function collector(): Collect {
  const existing = (globalThis as { gc?: Collect }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as Collect;
}

/**
 * Gives memory back once the daemon goes quiet after work. V8 sizes the young generation to the
 * allocation rate (up to 2 × 16 MiB of semi-spaces) and shrinks it only in a collection that runs
 * while the rate is low; an idle daemon allocates nothing, so no collection ran and a daemon that
 * had run builds or many containers kept that memory, plus the garbage of its old generation,
 * for good (measured in tools/bench, workload `daemon-memory`). One full collection after
 * QUIET_MS of quiet shrinks both; it runs once per burst of requests (a few ms on this heap).
 * Returns a function that stops it.
 */
export function releaseMemoryWhenIdle(server: Server, quietMs = QUIET_MS): () => void {
  const gc = collector();
  let lastActive = 0;
  let dirty = false;
  const touch = () => {
    lastActive = Date.now();
    dirty = true;
  };
  server.on('request', (_req, res) => {
    touch();
    res.once('close', touch);
  });
  server.on('upgrade', touch);
  const timer = setInterval(() => {
    if (!dirty || Date.now() - lastActive < quietMs) return;
    dirty = false;
    gc();
  }, quietMs / 4);
  timer.unref();
  return () => clearInterval(timer);
}

// The registry of workloads: each themed module exports WORKLOADS; this list decides which
// modules run and in what order. To add a module, add one line here. A later module's workload
// replaces an earlier one with the same id (so a module can take a workload over).
export { ENGINE_IDS, recordIdleMemory } from './common.mjs';

const MODULES = [
  './latency-workloads.mjs',
  './memory-workloads.mjs',
  './concurrency-workloads.mjs',
  './scaling-workloads.mjs',
  './image-workloads.mjs',
  './component-workloads.mjs',
  './build-workloads.mjs',
];

const byId = new Map();
for (const m of await Promise.all(MODULES.map((path) => import(path))))
  for (const w of m.WORKLOADS) {
    byId.delete(w.id);
    byId.set(w.id, w);
  }
export const WORKLOADS = [...byId.values()];

/** The workloads named (by id, alias or group), in suite order; all of them when none is named. */
export function selectWorkloads(names) {
  if (names.length === 0) return WORKLOADS;
  const picked = new Set();
  for (const n of names) {
    const found = WORKLOADS.filter((x) => x.id === n || x.aliases?.includes(n) || x.group === n);
    if (found.length === 0)
      throw new Error(`unknown workload ${n}; known: ${WORKLOADS.map((x) => x.id).join(', ')}`);
    for (const w of found) picked.add(w);
  }
  return WORKLOADS.filter((w) => picked.has(w));
}

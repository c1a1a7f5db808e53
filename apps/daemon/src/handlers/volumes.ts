import { compareApiVersions, labelFilterMatches } from '@ts-container/api';
import type { Engine, Volume } from '@ts-container/engine';
import { z } from 'zod';
import { HttpError, boolParam, filtersParam, readJson, sendEmpty, sendJson } from '../http.js';
import type { Router } from '../router.js';

const VolumeCreateSchema = z
  .object({
    Name: z.string().optional(),
    Driver: z.string().optional(),
    DriverOpts: z.record(z.string()).nullable().optional(),
    Labels: z.record(z.string()).nullable().optional(),
  })
  .passthrough();

const LIST_FILTERS = new Set(['name', 'label', 'dangling', 'driver']);
const PRUNE_FILTERS = new Set(['label', 'label!', 'all']);

/** The `/volumes` endpoints (Docker's local driver). */
export function registerVolumes(router: Router, engine: Engine): void {
  const volumes = engine.volumes;
  const refCount = (name: string) => engine.containers.usingVolume(name).length;

  router.add('GET', '/volumes', async ({ res, query }) => {
    const filters = filtersParam(query);
    for (const key of filters.keys())
      if (!LIST_FILTERS.has(key)) throw new HttpError(400, `invalid filter '${key}'`);
    const list = volumes.list().filter((v) => matches(v, filters, refCount(v.Name)));
    sendJson(res, 200, { Volumes: list, Warnings: null });
  });

  router.add('POST', '/volumes/create', async ({ req, res }) => {
    const body = VolumeCreateSchema.parse((await readJson(req)) ?? {});
    const v = await volumes.create({
      ...(body.Name ? { Name: body.Name } : {}),
      ...(body.Driver ? { Driver: body.Driver } : {}),
      ...(body.DriverOpts ? { DriverOpts: body.DriverOpts } : {}),
      ...(body.Labels ? { Labels: body.Labels } : {}),
    });
    sendJson(res, 201, v);
  });

  router.add('POST', '/volumes/prune', async ({ res, query, version }) => {
    const filters = filtersParam(query);
    for (const key of filters.keys())
      if (!PRUNE_FILTERS.has(key)) throw new HttpError(400, `invalid filter '${key}'`);
    // API 1.42+: only anonymous volumes, unless all=true; before 1.42 every unused volume.
    const all =
      compareApiVersions(version, '1.42') < 0 ||
      (filters.get('all') ?? []).some((v) => v === 'true' || v === '1');
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const v of volumes.list()) {
      if (refCount(v.Name) > 0) continue;
      if (!all && !volumes.record(v.Name).Anonymous) continue;
      if (!(filters.get('label') ?? []).every((l) => hasLabel(v, l))) continue;
      if ((filters.get('label!') ?? []).some((l) => hasLabel(v, l))) continue;
      reclaimed += Math.max(0, await volumes.size(v.Name));
      await volumes.remove(v.Name, []);
      deleted.push(v.Name);
    }
    sendJson(res, 200, { VolumesDeleted: deleted, SpaceReclaimed: reclaimed });
  });

  router.add('GET', '/volumes/{name}', async ({ res, params }) => {
    sendJson(res, 200, volumes.get(params.name!));
  });

  router.add('DELETE', '/volumes/{name}', async ({ res, params, query }) => {
    await volumes.remove(
      params.name!,
      engine.containers.usingVolume(params.name!),
      boolParam(query, 'force'),
    );
    sendEmpty(res, 204);
  });
}

function hasLabel(v: Volume, filter: string): boolean {
  return labelFilterMatches(v.Labels, filter);
}

function matches(v: Volume, filters: Map<string, string[]>, refs: number): boolean {
  for (const [key, values] of filters) {
    const ok =
      key === 'label'
        ? values.every((l) => hasLabel(v, l))
        : values.some((value) => {
            if (key === 'name') return v.Name.includes(value);
            if (key === 'driver') return v.Driver === value;
            if (key === 'dangling') return (value === 'true' || value === '1') === (refs === 0);
            return false;
          });
    if (!ok) return false;
  }
  return true;
}

/** `system df` rows for volumes (size measured with du). */
export async function volumeUsage(engine: Engine): Promise<Volume[]> {
  const out: Volume[] = [];
  for (const v of engine.volumes.list())
    out.push({
      ...v,
      UsageData: {
        Size: await engine.volumes.size(v.Name),
        RefCount: engine.containers.usingVolume(v.Name).length,
      },
    });
  return out;
}

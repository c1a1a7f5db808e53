import { chmod, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IdMap, IdMappings } from '@ts-container/unionfs';
import { execa } from 'execa';
import { EngineError, invalidParameter } from './errors.js';

/** The user Docker creates for `--userns-remap=default`; the same name keeps /etc/subuid shared. */
export const DEFAULT_REMAP_USER = 'dockremap';

/** A range of subordinate ids: `name:start:count` in /etc/subuid or /etc/subgid. */
interface SubordinateRange {
  owner: string;
  start: number;
  count: number;
}

export interface RemapFiles {
  subuid: string;
  subgid: string;
}

const SYSTEM_FILES: RemapFiles = { subuid: '/etc/subuid', subgid: '/etc/subgid' };

function parseSubordinateFile(text: string): SubordinateRange[] {
  const out: SubordinateRange[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [owner, start, count] = trimmed.split(':');
    if (owner === undefined || !/^\d+$/.test(start ?? '') || !/^\d+$/.test(count ?? '')) continue;
    out.push({ owner, start: Number(start), count: Number(count) });
  }
  return out;
}

async function readRanges(path: string): Promise<SubordinateRange[]> {
  try {
    return parseSubordinateFile(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** A user's or group's ranges, by name or by number, laid end to end from container id 0. */
function mappingsFor(ranges: SubordinateRange[], keys: string[]): IdMap[] {
  const maps: IdMap[] = [];
  let next = 0;
  for (const r of ranges) {
    if (!keys.includes(r.owner)) continue;
    maps.push({ containerID: next, hostID: r.start, size: r.count });
    next += r.count;
  }
  return maps;
}

async function lookup(
  database: 'passwd' | 'group',
  key: string,
): Promise<{ name: string; id: string } | undefined> {
  const r = await execa('getent', [database, key], { reject: false });
  if (r.exitCode !== 0) return undefined;
  const [name, , id] = r.stdout.split(':');
  return name && id ? { name, id } : undefined;
}

/**
 * `--userns-remap`: `default`, `user`, `user:group`, `uid` or `uid:gid`, as Docker takes it. The
 * container's ids 0… map to the subordinate ranges the user (and group) own in /etc/subuid and
 * /etc/subgid. `default` is the `dockremap` user, created with a 65536-id range when missing.
 */
export async function resolveUsernsRemap(
  spec: string,
  files: RemapFiles = SYSTEM_FILES,
): Promise<IdMappings> {
  const value = spec.trim();
  if (value === '')
    throw invalidParameter('--userns-remap needs a value: default, user[:group] or uid[:gid]');
  if (value === 'default') await ensureDefaultRemapUser(files);
  const [userPart, groupPart] = (value === 'default' ? DEFAULT_REMAP_USER : value).split(':') as [
    string,
    string | undefined,
  ];
  const user = await lookup('passwd', userPart);
  if (!user) throw invalidParameter(`Can't create ID mappings: user "${userPart}" does not exist`);
  const groupKey = groupPart ?? user.name;
  const group = await lookup('group', groupKey);
  if (!group && groupPart !== undefined)
    throw invalidParameter(`Can't create ID mappings: group "${groupPart}" does not exist`);
  const uidMappings = mappingsFor(await readRanges(files.subuid), [user.name, user.id]);
  if (uidMappings.length === 0)
    throw invalidParameter(`Can't create ID mappings: no subuid ranges found for user "${user.name}"`);
  const gidKeys = group ? [group.name, group.id] : [groupKey];
  const gidMappings = mappingsFor(await readRanges(files.subgid), gidKeys);
  if (gidMappings.length === 0)
    throw invalidParameter(`Can't create ID mappings: no subgid ranges found for group "${gidKeys[0]}"`);
  return { uidMappings, gidMappings };
}

/** Creates `dockremap` and its subordinate ranges, as dockerd does on first use of `default`. */
async function ensureDefaultRemapUser(files: RemapFiles): Promise<void> {
  if (!(await lookup('passwd', DEFAULT_REMAP_USER))) {
    const r = await execa(
      'useradd',
      ['--system', '--shell', '/bin/false', '--no-create-home', DEFAULT_REMAP_USER],
      {
        reject: false,
      },
    );
    if (r.exitCode !== 0)
      throw new EngineError(
        'system',
        `Can't create ID mappings: useradd ${DEFAULT_REMAP_USER}: ${r.stderr.trim()}`,
      );
  }
  const uids = await readRanges(files.subuid);
  const gids = await readRanges(files.subgid);
  if (uids.some((r) => r.owner === DEFAULT_REMAP_USER) && gids.some((r) => r.owner === DEFAULT_REMAP_USER))
    return;
  // The first 65536 ids above every range already given out (and never below 100000).
  const end = (ranges: SubordinateRange[]) => Math.max(100000, ...ranges.map((r) => r.start + r.count));
  const start = Math.max(end(uids), end(gids));
  const last = start + 65535;
  const r = await execa(
    'usermod',
    ['--add-subuids', `${start}-${last}`, '--add-subgids', `${start}-${last}`, DEFAULT_REMAP_USER],
    { reject: false },
  );
  if (r.exitCode !== 0)
    throw new EngineError(
      'system',
      `Can't create ID mappings: usermod ${DEFAULT_REMAP_USER}: ${r.stderr.trim()}`,
    );
}

/**
 * The mapped root is an unprivileged host user: it must be able to walk down to each
 * container's root filesystem. Our own directories get o+x (traversal, not listing); a parent
 * directory that forbids it is the user's to fix, as dockerd says too.
 */
export async function allowRemappedRootTraversal(ownDirs: readonly string[]): Promise<void> {
  for (const dir of ownDirs) {
    const st = await stat(dir);
    if ((st.mode & 0o001) === 0) await chmod(dir, (st.mode & 0o7777) | 0o001);
  }
  const first = ownDirs[0];
  if (first === undefined) return;
  for (let dir = dirname(first); ; dir = dirname(dir)) {
    const st = await stat(dir);
    if ((st.mode & 0o001) === 0)
      throw invalidParameter(
        `a directory above the data root (${dir}) keeps the remapped root out; allow it with 'chmod o+x ${dir}'`,
      );
    if (dir === '/') break;
  }
}

import { readFileInRoot } from './build-fs.js';
import { invalidParameter } from './errors.js';

/**
 * Resolves `--user` (`name`, `uid`, `uid:gid`, `name:group`; root when unset) against the
 * container's /etc/passwd and /etc/group, as Docker does; numeric IDs need no entry. The
 * supplementary groups are the user's groups in /etc/group, then `--group-add` (names or ids).
 */
export async function resolveUser(
  rootfs: string,
  spec: string | undefined,
  groupAdd: readonly string[] = [],
): Promise<{ uid: number; gid: number; additionalGids: number[] }> {
  const [userPart = '', groupPart] = (spec || '0').split(':');
  const passwd = await readDb(rootfs, '/etc/passwd');
  const groups = await readDb(rootfs, '/etc/group');
  let uid: number;
  let gid: number | undefined;
  let userName: string | undefined;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    const entry = passwd.find((p) => p[2] === userPart);
    if (entry) {
      gid = Number(entry[3]);
      userName = entry[0];
    }
  } else {
    const entry = passwd.find((p) => p[0] === userPart);
    if (!entry) throw invalidParameter(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
    userName = entry[0];
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((e) => e[0] === groupPart);
      if (!g) throw invalidParameter(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = Number(g[2]);
    }
  }
  const additionalGids =
    userName === undefined
      ? []
      : groups.filter((g) => (g[3] ?? '').split(',').includes(userName)).map((g) => Number(g[2]));
  for (const group of groupAdd) {
    if (/^\d+$/.test(group)) additionalGids.push(Number(group));
    else {
      const g = groups.find((e) => e[0] === group);
      if (!g) throw invalidParameter(`Unable to find group ${group}: no matching entries in group file`);
      additionalGids.push(Number(g[2]));
    }
  }
  return { uid, gid: gid ?? 0, additionalGids: [...new Set(additionalGids)] };
}

/** Reads a database of the container's, its symlinks resolved inside the container. */
async function readDb(rootfs: string, path: string): Promise<string[][]> {
  const text = (await readFileInRoot(rootfs, path)) ?? '';
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

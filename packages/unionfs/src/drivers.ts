import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Mount } from './mount.js';

export type DriverName = 'overlay' | 'copy';

/** How one storage driver lays out and mounts snapshot directories. */
export interface StorageDriver {
  readonly name: DriverName;
  /** Whiteouts in unpacked layers: overlay keeps overlayfs' form, copy applies deletions. */
  readonly whiteouts: 'overlay' | 'apply';
  /** Creates the directories of a new snapshot on top of `parents` (nearest first). */
  create(id: string, parents: readonly string[]): Promise<void>;
  /** Where changes made to snapshot `id` are stored (what a layer tarball is made from). */
  upperDir(id: string): string;
  mounts(id: string, parents: readonly string[], readonly: boolean): Promise<Mount[]>;
  remove(id: string): Promise<void>;
  /** Removes directories that belong to no known snapshot (left by a crash). */
  repair(known: ReadonlySet<string>): Promise<string[]>;
}

/** overlayfs, laid out like Docker's overlay2: <id>/diff, <id>/work, and short links in l/. */
export class OverlayDriver implements StorageDriver {
  readonly name = 'overlay';
  readonly whiteouts = 'overlay';
  private readonly linkDir: string;
  /** Short link name per layer id: a deep image's mount would otherwise read one file per layer. */
  private readonly links = new Map<string, string>();

  constructor(private readonly root: string) {
    this.linkDir = join(root, 'l');
  }

  private async linkOf(id: string): Promise<string> {
    let short = this.links.get(id);
    if (short === undefined) {
      short = (await readFile(join(this.root, id, 'link'), 'utf8')).trim();
      this.links.set(id, short);
    }
    return short;
  }

  async create(id: string, _parents: readonly string[]): Promise<void> {
    const dir = join(this.root, id);
    await mkdir(join(dir, 'diff'), { recursive: true, mode: 0o755 });
    await mkdir(join(dir, 'work'), { recursive: true, mode: 0o700 });
    await mkdir(this.linkDir, { recursive: true, mode: 0o700 });
    const short = randomBytes(13).toString('hex').toUpperCase();
    await symlink(`../${id}/diff`, join(this.linkDir, short));
    await writeFile(join(dir, 'link'), short);
    this.links.set(id, short);
  }

  upperDir(id: string): string {
    return join(this.root, id, 'diff');
  }

  async mounts(id: string, parents: readonly string[], readonly: boolean): Promise<Mount[]> {
    if (parents.length === 0) {
      return [{ type: 'bind', source: this.upperDir(id), options: ['rbind', readonly ? 'ro' : 'rw'] }];
    }
    const lowers = await Promise.all(parents.map(async (p) => `l/${await this.linkOf(p)}`));
    if (readonly) {
      if (lowers.length === 1)
        return [{ type: 'bind', source: this.upperDir(parents[0]!), options: ['rbind', 'ro'] }];
      return [
        { type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`], cwd: this.root },
      ];
    }
    return [
      {
        type: 'overlay',
        source: 'overlay',
        options: [`lowerdir=${lowers.join(':')}`, `upperdir=${id}/diff`, `workdir=${id}/work`],
        cwd: this.root,
      },
    ];
  }

  async remove(id: string): Promise<void> {
    const short = await readFile(join(this.root, id, 'link'), 'utf8').catch(() => undefined);
    this.links.delete(id);
    if (short !== undefined) await rm(join(this.linkDir, short.trim()), { force: true });
    await rm(join(this.root, id), { recursive: true, force: true });
  }

  async repair(known: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      if (name === 'l' || known.has(name)) continue;
      await this.remove(name);
      removed.push(name);
    }
    for (const link of await readdir(this.linkDir).catch(() => [] as string[])) {
      const target = await readlink(join(this.linkDir, link)).catch(() => '');
      const id = target.split('/')[1] ?? '';
      if (!known.has(id)) await rm(join(this.linkDir, link), { force: true });
    }
    return removed;
  }
}

/** Full copies, like Docker's vfs driver: slow and large, but works on any filesystem. */
export class CopyDriver implements StorageDriver {
  readonly name = 'copy';
  readonly whiteouts = 'apply';

  constructor(private readonly root: string) {}

  async create(id: string, parents: readonly string[]): Promise<void> {
    const fs = join(this.root, id, 'fs');
    await mkdir(fs, { recursive: true, mode: 0o755 });
    const parent = parents[0];
    if (parent !== undefined) {
      await execa('cp', ['-a', '--reflink=auto', `${this.upperDir(parent)}/.`, `${fs}/`]);
    }
  }

  upperDir(id: string): string {
    return join(this.root, id, 'fs');
  }

  async mounts(id: string, _parents: readonly string[], readonly: boolean): Promise<Mount[]> {
    return [{ type: 'bind', source: this.upperDir(id), options: ['rbind', readonly ? 'ro' : 'rw'] }];
  }

  async remove(id: string): Promise<void> {
    await rm(join(this.root, id), { recursive: true, force: true });
  }

  async repair(known: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      if (known.has(name)) continue;
      await this.remove(name);
      removed.push(name);
    }
    return removed;
  }
}

/** True when the kernel can mount overlayfs with `root` holding the upper directories. */
export async function overlaySupported(root: string): Promise<boolean> {
  const probe = join(root, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    for (const d of ['lower1', 'lower2', 'upper', 'work', 'merged'])
      await mkdir(join(probe, d), { recursive: true });
    const r = await execa(
      'mount',
      ['-t', 'overlay', 'overlay', '-o', 'lowerdir=lower1:lower2,upperdir=upper,workdir=work', 'merged'],
      { cwd: probe, reject: false },
    );
    if (r.exitCode !== 0) return false;
    await execa('umount', [join(probe, 'merged')], { reject: false });
    return true;
  } catch {
    return false;
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}

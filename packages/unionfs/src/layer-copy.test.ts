import {
  link,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyTree, unshareTree } from './layer-copy.js';

describe('copyTree and unshareTree', () => {
  let root: string;
  let tree: string;
  let layer: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'layer-copy-'));
    tree = join(root, 'diff');
    layer = join(root, 'layer');
    await mkdir(join(tree, 'dir'), { recursive: true });
    await mkdir(layer);
    await writeFile(join(tree, 'dir/file'), 'one');
    await link(join(tree, 'dir/file'), join(tree, 'twin'));
    await symlink('dir/file', join(tree, 'sym'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const inode = async (path: string) => (await lstat(path)).ino;

  it('links the files of a tree, keeping its own hard links and symlinks', async () => {
    await copyTree(tree, layer, true);
    expect(await inode(join(layer, 'dir/file'))).toBe(await inode(join(tree, 'dir/file')));
    expect(await inode(join(layer, 'twin'))).toBe(await inode(join(layer, 'dir/file')));
    expect((await lstat(join(layer, 'sym'))).isSymbolicLink()).toBe(true);
  });

  it('gives a tree files of its own, the linked copy unchanged by later writes', async () => {
    await copyTree(tree, layer, true);
    await unshareTree(tree);
    expect(await inode(join(tree, 'dir/file'))).not.toBe(await inode(join(layer, 'dir/file')));
    expect(await inode(join(tree, 'twin'))).toBe(await inode(join(tree, 'dir/file')));
    await writeFile(join(tree, 'dir/file'), 'two', { flag: 'r+' });
    expect(await readFile(join(layer, 'dir/file'), 'utf8')).toBe('one');
    expect(await readFile(join(tree, 'twin'), 'utf8')).toBe('two');
    expect(await readdir(root)).toEqual(['diff', 'layer']);
  });

  it('finishes after a crash part-way through the swap', async () => {
    await copyTree(tree, layer, true);
    // Interrupted between moving the shared tree aside and moving its copy in.
    await rename(tree, `${tree}.shared`);
    await mkdir(`${tree}.unshare`);
    await unshareTree(tree);
    expect(await readFile(join(tree, 'dir/file'), 'utf8')).toBe('one');
    expect(await inode(join(tree, 'dir/file'))).not.toBe(await inode(join(layer, 'dir/file')));
    expect((await readdir(root)).sort()).toEqual(['diff', 'layer']);
  });
});

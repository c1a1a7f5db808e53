import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveFromRoot, extractToRoot, isDirMode, resolveInRoot, statInRoot } from './archive.js';
import { layerTarball } from './testsuite.js';

async function entries(stream: Readable): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, s, next) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: unknown) => chunks.push(c as Buffer));
      s.on('end', () => {
        out[h.name] = h.type === 'symlink' ? `-> ${h.linkname}` : Buffer.concat(chunks).toString();
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  stream.pipe(extract);
  await done;
  return out;
}

describe('container path archives', () => {
  let dir: string;
  let root: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `archive-${process.pid}-`));
    root = join(dir, 'rootfs');
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc/passwd'), 'container-passwd');
    await mkdir(join(root, 'data/sub'), { recursive: true });
    await writeFile(join(root, 'data/sub/file'), 'f');
    // Links that point out of the container if resolved on the host.
    await symlink('/etc/passwd', join(root, 'passwd-link'));
    await symlink('../../../../../../etc', join(root, 'up'));
    await symlink('/', join(root, 'rootlink'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves symlinks inside the container root, never on the host', async () => {
    expect(await resolveInRoot(root, '/passwd-link')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/up/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/rootlink/../../etc')).toBe(join(root, 'etc'));
    expect(await resolveInRoot(root, '/passwd-link', false)).toBe(join(root, 'passwd-link'));
  });

  it('stats like Docker: Go file modes and the link target inside the container', async () => {
    const link = await statInRoot(root, '/passwd-link');
    expect(link).toMatchObject({ name: 'passwd-link', linkTarget: '/etc/passwd' });
    expect(isDirMode(link.mode)).toBe(false);
    expect(isDirMode((await statInRoot(root, '/data')).mode)).toBe(true);
    await expect(statInRoot(root, '/nope')).rejects.toThrow('Could not find the file /nope');
  });

  it('archives a directory under its own name and a symlink as itself', async () => {
    const { tar: data } = await archiveFromRoot(root, '/data');
    expect(await entries(data)).toEqual({ 'data/': '', 'data/sub/': '', 'data/sub/file': 'f' });
    const { tar: link } = await archiveFromRoot(root, '/passwd-link');
    expect(await entries(link)).toEqual({ 'passwd-link': '-> /etc/passwd' });
    const { tar: through } = await archiveFromRoot(root, '/up/passwd');
    expect(await entries(through)).toEqual({ passwd: 'container-passwd' });
  });

  it('extracts into a directory reached through symlinks without leaving the root', async () => {
    await extractToRoot(root, '/up', layerTarball([{ name: 'copied', body: 'in' }]));
    expect(await readFile(join(root, 'etc/copied'), 'utf8')).toBe('in');
    await extractToRoot(root, '/', layerTarball([{ name: 'passwd-link', body: 'replaced' }]));
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toBe('container-passwd');
    expect(await readFile(join(root, 'passwd-link'), 'utf8')).toBe('replaced');
    await expect(extractToRoot(root, '/etc/passwd', layerTarball([{ name: 'x' }]))).rejects.toThrow(
      'extraction point is not a directory',
    );
  });
});

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './registry.js';

const skip = existsSync(join(REPO_ROOT, '.git')) ? undefined : 'the source tree is not a git checkout';
if (skip) console.warn(`clean-clone pack test skipped: ${skip}`);

// What a contributor or a release job starts from: a fresh clone, dependencies installed, nothing built.
describe.skipIf(skip !== undefined)('pnpm pack in a clean clone', () => {
  let dir = '';
  afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

  it('gives every package a tarball with dist/, its types and the LICENSE, with no manual build', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsctr-clone-'));
    const clone = join(dir, 'clone');
    // The committed tree (HEAD), as CI checks it out.
    await execa('git', ['clone', '--quiet', '--no-hardlinks', REPO_ROOT, clone]);
    await execa('pnpm', ['install', '--frozen-lockfile', '--prefer-offline', '--reporter=silent'], {
      cwd: clone,
    });
    const out = join(dir, 'tarballs');
    const dirs = ['packages', 'apps'].flatMap((parent) =>
      execFileSync('ls', [join(clone, parent)])
        .toString()
        .trim()
        .split('\n')
        .map((name) => join(clone, parent, name)),
    );
    // Nothing is built yet.
    expect(dirs.filter((pkgDir) => existsSync(join(pkgDir, 'dist')))).toEqual([]);
    for (const pkgDir of dirs) {
      // One at a time: each prepack builds the package and what it depends on (turbo, cached across them).
      await execa('pnpm', ['pack', '--pack-destination', out], { cwd: pkgDir });
    }
    const tarballs = await readdir(out);
    expect(tarballs).toHaveLength(dirs.length);
    for (const tarball of tarballs) {
      const files = execFileSync('tar', ['-tzf', join(out, tarball)])
        .toString()
        .split('\n');
      expect(files, tarball).toContain('package/LICENSE');
      expect(files, tarball).toContain('package/README.md');
      expect(files, tarball).toContain('package/dist/index.js');
      const manifest = JSON.parse(
        execFileSync('tar', ['-xzOf', join(out, tarball), 'package/package.json']).toString(),
      ) as { types?: string; bin?: unknown };
      // Libraries ship their declarations; the binaries declare none.
      if (manifest.bin === undefined)
        expect(files, tarball).toContain(`package/${manifest.types?.replace('./', '')}`);
      else expect(manifest.types, tarball).toBeUndefined();
    }
    expect(await readFile(join(clone, 'LICENSE'), 'utf8')).toContain('Apache License');
    // A whole build from nothing: about a minute on an idle 2-core machine, longer on a busy one.
  }, 900_000);
});

import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isGitUrl, isRemoteUrl, parseGitRemote } from './build-remote.js';

describe('remote build contexts', () => {
  it("tells git URLs from other URLs as moby's urlutil does", () => {
    expect(isGitUrl('https://example.test/repo.git')).toBe(true);
    expect(isGitUrl('https://example.test/repo.git#main:sub')).toBe(true);
    expect(isGitUrl('git://example.test/repo')).toBe(true);
    expect(isGitUrl('git@example.test:user/repo')).toBe(true);
    expect(isGitUrl('github.com/user/repo')).toBe(true);
    expect(isGitUrl('https://example.test/ctx.tar.gz')).toBe(false);
    expect(isRemoteUrl('https://example.test/ctx.tar.gz')).toBe(true);
    expect(isRemoteUrl('./dir')).toBe(false);
  });

  it('splits ref and subdirectory from the fragment; a URL without a scheme is https', () => {
    expect(parseGitRemote('https://h.test/r.git#v1:docker/app')).toEqual({
      url: 'https://h.test/r.git',
      ref: 'v1',
      subdir: 'docker/app',
    });
    expect(parseGitRemote('github.com/u/r')).toEqual({ url: 'https://github.com/u/r' });
    expect(parseGitRemote('git@h.test:u/r.git#:sub')).toEqual({ url: 'git@h.test:u/r.git', subdir: 'sub' });
    expect(parseGitRemote('git://h.test/r#feature')).toEqual({ url: 'git://h.test/r', ref: 'feature' });
    // A ref git would read as an option is refused.
    expect(() => parseGitRemote('git://h.test/r#--upload-pack=x')).toThrow(
      'invalid refspec: --upload-pack=x',
    );
  });
});

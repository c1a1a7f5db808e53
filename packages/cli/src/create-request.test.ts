import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCreateRequest, parseDevice } from './create-request.js';

describe('run/create flags into a create request', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'create-request-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('takes -e NAME from the client environment, and leaves it out when unset', () => {
    const r = buildCreateRequest({ env: ['SET', 'UNSET', 'X=1'] }, 'busybox', [], { SET: 'yes' });
    expect(r.Env).toEqual(['SET=yes', 'X=1']);
  });

  it('reads --label-file like an env file', async () => {
    const file = join(dir, 'labels');
    await writeFile(file, '# comment\na=1\n\nb=two words\n');
    const r = buildCreateRequest({ 'label-file': [file], label: ['c=3'] }, 'busybox', [], {});
    expect(r.Labels).toEqual({ a: '1', b: 'two words', c: '3' });
  });

  it('parses --device as the docker CLI does', () => {
    expect(parseDevice('/dev/fuse')).toEqual({
      PathOnHost: '/dev/fuse',
      PathInContainer: '/dev/fuse',
      CgroupPermissions: 'rwm',
    });
    expect(parseDevice('/dev/sda:/dev/xvdc:r')).toEqual({
      PathOnHost: '/dev/sda',
      PathInContainer: '/dev/xvdc',
      CgroupPermissions: 'r',
    });
    expect(parseDevice('/dev/sda:rw')).toEqual({
      PathOnHost: '/dev/sda',
      PathInContainer: '/dev/sda',
      CgroupPermissions: 'rw',
    });
    expect(() => parseDevice('/dev/sda:/x:bad')).toThrow('bad format for path');
  });
});

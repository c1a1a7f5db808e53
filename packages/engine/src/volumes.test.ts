import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VolumeService } from './volumes.js';

describe('VolumeService (local driver)', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'volumes-unit-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('creates named and anonymous volumes, idempotently for a name', async () => {
    const volumes = await VolumeService.open(join(root, 'a'));
    const v = await volumes.create({ Name: 'data', Labels: { team: 'db' } });
    expect(v).toMatchObject({ Name: 'data', Driver: 'local', Scope: 'local', Labels: { team: 'db' } });
    expect(v.Mountpoint).toBe(join(root, 'a', 'data', '_data'));
    expect((await volumes.create({ Name: 'data' })).CreatedAt).toBe(v.CreatedAt);
    const anonymous = await volumes.create({ anonymous: true });
    expect(anonymous.Name).toMatch(/^[0-9a-f]{64}$/);
    expect(volumes.record(anonymous.Name).Anonymous).toBe(true);
    // A second open reads them back.
    const again = await VolumeService.open(join(root, 'a'));
    expect(
      again
        .list()
        .map((x) => x.Name)
        .sort(),
    ).toEqual([anonymous.Name, 'data'].sort());
  });

  it('refuses bad names, unknown drivers and options, and removing a volume in use', async () => {
    const volumes = await VolumeService.open(join(root, 'b'));
    await expect(volumes.create({ Name: 'a/b' })).rejects.toThrow(
      /includes invalid characters for a local volume name/,
    );
    await expect(volumes.create({ Name: 'xy', Driver: 'nfs' })).rejects.toThrow('plugin "nfs" not found');
    await expect(volumes.create({ Name: 'xy', DriverOpts: { bogus: '1' } })).rejects.toThrow(
      'invalid option key: "bogus"',
    );
    await volumes.create({ Name: 'used' });
    await expect(volumes.remove('used', ['abc'])).rejects.toThrow('remove used: volume is in use - [abc]');
    await volumes.remove('used', []);
    expect(() => volumes.get('used')).toThrow('get used: no such volume');
    await volumes.remove('used', [], true); // force: no error for a missing volume
  });

  it('repairs what a crash left: data without metadata is kept, a bare directory removed', async () => {
    const dir = join(root, 'c');
    await mkdir(join(dir, 'kept', '_data'), { recursive: true });
    await writeFile(join(dir, 'kept', '_data', 'f'), 'x');
    await mkdir(join(dir, 'half'), { recursive: true });
    const warnings: string[] = [];
    const volumes = await VolumeService.open(dir, { warn: (m) => warnings.push(m) });
    expect(volumes.list().map((v) => v.Name)).toEqual(['kept']);
    expect(await readdir(dir)).toEqual(['kept']);
    expect(warnings).toHaveLength(2);
  });
});

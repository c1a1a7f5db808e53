import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveUsernsRemap } from './userns-remap.js';

describe('resolveUsernsRemap', () => {
  let dir: string;
  let files: { subuid: string; subgid: string };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'userns-remap-'));
    files = { subuid: join(dir, 'subuid'), subgid: join(dir, 'subgid') };
    // Ranges by name and by number, laid end to end in file order; others' lines are ignored.
    await writeFile(files.subuid, '# comment\nroot:200000:65536\nnobody:400000:65536\n0:300000:1000\n');
    await writeFile(files.subgid, 'root:210000:65536\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('maps container ids 0… onto the user’s and group’s subordinate ranges', async () => {
    expect(await resolveUsernsRemap('root', files)).toEqual({
      uidMappings: [
        { containerID: 0, hostID: 200000, size: 65536 },
        { containerID: 65536, hostID: 300000, size: 1000 },
      ],
      gidMappings: [{ containerID: 0, hostID: 210000, size: 65536 }],
    });
    expect((await resolveUsernsRemap('0:root', files)).gidMappings).toEqual([
      { containerID: 0, hostID: 210000, size: 65536 },
    ]);
  });

  it('says what is missing, as dockerd does', async () => {
    await expect(resolveUsernsRemap('no-such-user-here', files)).rejects.toThrow(
      'Can\'t create ID mappings: user "no-such-user-here" does not exist',
    );
    await expect(resolveUsernsRemap('root:no-such-group-here', files)).rejects.toThrow(
      'group "no-such-group-here" does not exist',
    );
    await expect(resolveUsernsRemap('nobody', files)).rejects.toThrow(
      'no subgid ranges found for group "nobody"',
    );
    await expect(resolveUsernsRemap('', files)).rejects.toThrow('--userns-remap needs a value');
  });
});

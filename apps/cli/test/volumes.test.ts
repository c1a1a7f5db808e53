import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { e2eSkip, useDaemon, useTempDir } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('volume tests');

describe.skipIf(skip !== undefined)('volumes', () => {
  const dir = useTempDir('volumes-');
  const daemon = useDaemon();
  const vol = `data-${process.pid}`;

  it('keeps data in a named volume across containers, and lists and inspects it', async () => {
    const created = await daemon.tsctr(['volume', 'create', '--label', 'team=db', vol]);
    expect(created.stdout).toBe(vol);
    const write = await daemon.tsctr([
      'run',
      '--rm',
      '-v',
      `${vol}:/data`,
      'busybox',
      'sh',
      '-c',
      'echo kept > /data/f',
    ]);
    expect(write.exitCode, write.stderr).toBe(0);
    const read = await daemon.tsctr([
      'run',
      '--rm',
      '-v',
      `${vol}:/data:ro`,
      'busybox',
      'sh',
      '-c',
      'cat /data/f; touch /data/g',
    ]);
    expect(read.stdout).toBe('kept');
    expect(read.stderr).toContain('Read-only file system');
    const ls = await daemon.tsctr(['volume', 'ls']);
    expect(ls.stdout.split('\n')[0]).toMatch(/^DRIVER\s+VOLUME NAME$/);
    expect(ls.stdout).toMatch(new RegExp(`^local\\s+${vol}$`, 'm'));
    expect((await daemon.tsctr(['volume', 'ls', '-q', '--filter', 'label=team=db'])).stdout).toBe(vol);
    const inspect = await daemon.tsctr([
      'volume',
      'inspect',
      '--format',
      '{{.Driver}} {{.Mountpoint}} {{.Labels}}',
      vol,
    ]);
    expect(inspect.stdout).toMatch(new RegExp(`^local /\\S+/volumes/${vol}/_data map\\[team:db\\]$`));
    const missing = await daemon.tsctr(['volume', 'inspect', 'no-such-volume']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe('Error response from daemon: get no-such-volume: no such volume');
  });

  it('refuses to remove a volume in use, with Docker’s message', async () => {
    const name = `user-${process.pid}`;
    expect(
      (await daemon.tsctr(['create', '--name', name, '-v', `${vol}:/data`, 'busybox', 'true'])).exitCode,
    ).toBe(0);
    const id = (await daemon.tsctr(['inspect', '-f', '{{.Id}}', name])).stdout;
    const inUse = await daemon.tsctr(['volume', 'rm', vol]);
    expect(inUse.exitCode).toBe(1);
    expect(inUse.stderr).toBe(`Error response from daemon: remove ${vol}: volume is in use - [${id}]`);
    expect((await daemon.tsctr(['ps', '-a', '-q', '--filter', `volume=${vol}`])).stdout).toBe(
      id.slice(0, 12),
    );
    const mounts = await daemon.tsctr([
      'inspect',
      '-f',
      '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}',
      name,
    ]);
    expect(mounts.stdout).toBe(`volume ${vol} /data true`);
    await daemon.tsctr(['rm', name]);
  });

  it('copies the image’s files into an empty volume (VOLUME in a Dockerfile), and rm -v removes anonymous volumes only', async () => {
    await writeFile(
      join(dir, 'Dockerfile'),
      'FROM busybox\nRUN mkdir -p /conf && echo default > /conf/app.conf\nVOLUME /conf\n',
    );
    const build = await daemon.tsctr(['build', '-q', '-t', 'withvol', dir]);
    expect(build.exitCode, build.stderr).toBe(0);
    const name = `anon-${process.pid}`;
    const run = await daemon.tsctr([
      'run',
      '--name',
      name,
      '-v',
      `${vol}:/named`,
      'withvol',
      'cat',
      '/conf/app.conf',
    ]);
    expect(run.stdout).toBe('default');
    const anonymous = (
      await daemon.tsctr([
        'inspect',
        '-f',
        '{{range .Mounts}}{{if eq .Destination "/conf"}}{{.Name}}{{end}}{{end}}',
        name,
      ])
    ).stdout;
    expect(anonymous).toMatch(/^[0-9a-f]{64}$/);
    expect((await daemon.tsctr(['volume', 'ls', '-q'])).stdout.split('\n')).toContain(anonymous);
    expect((await daemon.tsctr(['rm', '-v', name])).exitCode).toBe(0);
    const left = (await daemon.tsctr(['volume', 'ls', '-q'])).stdout.split('\n');
    expect(left).not.toContain(anonymous);
    expect(left).toContain(vol);
    // --rm does the same for `-v /path`.
    await daemon.tsctr(['run', '--rm', '-v', '/scratch', 'busybox', 'touch', '/scratch/x']);
    expect((await daemon.tsctr(['volume', 'ls', '-q'])).stdout.split('\n').sort()).toEqual([vol]);
  });

  it('shares volumes with --volumes-from, mounts tmpfs, and takes --mount', async () => {
    const source = `src-${process.pid}`;
    expect(
      (await daemon.tsctr(['create', '--name', source, '-v', `${vol}:/shared`, 'busybox', 'true'])).exitCode,
    ).toBe(0);
    const from = await daemon.tsctr([
      'run',
      '--rm',
      '--volumes-from',
      `${source}:ro`,
      'busybox',
      'cat',
      '/shared/f',
    ]);
    expect(from.stdout).toBe('kept');
    const tmpfs = await daemon.tsctr([
      'run',
      '--rm',
      '--tmpfs',
      '/scratch:size=1m',
      'busybox',
      'sh',
      '-c',
      'grep " /scratch " /proc/mounts',
    ]);
    expect(tmpfs.stdout).toMatch(/^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,.*size=1024k/);
    const mount = await daemon.tsctr([
      'run',
      '--rm',
      '--mount',
      `type=volume,source=${vol},target=/m,readonly`,
      '--mount',
      'type=tmpfs,target=/t,tmpfs-size=2m',
      'busybox',
      'sh',
      '-c',
      'cat /m/f; grep " /t " /proc/mounts | cut -d" " -f3',
    ]);
    expect(mount.stdout).toBe('kept\ntmpfs');
    await daemon.tsctr(['rm', source]);
  });

  it('works for the docker CLI, counts in system df, and prunes', async () => {
    const dvol = `docker-${process.pid}`;
    expect((await daemon.docker(['volume', 'create', dvol])).stdout).toBe(dvol);
    const run = await daemon.docker([
      'run',
      '--rm',
      '-v',
      `${dvol}:/d`,
      'busybox',
      'sh',
      '-c',
      'echo hi > /d/x; cat /d/x',
    ]);
    expect(run.stdout).toBe('hi');
    const inspect = await daemon.docker(['volume', 'inspect', '--format', '{{.Name}} {{.Driver}}', dvol]);
    expect(inspect.stdout).toBe(`${dvol} local`);
    const df = await daemon.tsctr(['system', 'df']);
    expect(df.stdout).toMatch(/^Local Volumes\s+2\s+0\s+/m);
    // Named volumes survive a plain prune (API ≥ 1.42), go with --all.
    const prune = await daemon.tsctr(['volume', 'prune', '-f']);
    expect(prune.stdout).toBe('Total reclaimed space: 0B');
    const all = await daemon.tsctr(['volume', 'prune', '-f', '--all']);
    expect(all.stdout).toContain('Deleted Volumes:\n');
    expect(all.stdout).toContain(dvol);
    expect((await daemon.docker(['volume', 'ls', '-q'])).stdout).toBe('');
    const rm = await daemon.docker(['volume', 'rm', 'no-such-volume']);
    expect(rm.exitCode).toBe(1);
  });
});

import { mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TSCTR, e2eSkip, useDaemon } from '@ts-container/test-harness';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

async function mountPoints(prefix: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(prefix));
}

const skip = e2eSkip('diff/commit end-to-end tests');

describe.skipIf(skip !== undefined)('container filesystems: copy-on-write, diff, commit, export', () => {
  const daemon = useDaemon();

  it('keeps changes in the container: the image and other containers see the original', async () => {
    await daemon.tsctr(['run', '--name', 'writer', 'busybox', 'sh', '-c', 'echo changed > /etc/passwd']);
    expect((await daemon.tsctr(['run', '--rm', 'busybox', 'head', '-c', '4', '/etc/passwd'])).stdout).toBe(
      'root',
    );
    await daemon.tsctr(['rm', 'writer']);
  });

  it('prints docker diff with Docker’s rules (parents of a change are C)', async () => {
    await daemon.tsctr([
      'run',
      '--name',
      'changer',
      'busybox',
      'sh',
      '-c',
      'echo hi > /etc/motd; rm /bin/vi; mkdir -p /data/sub; touch /data/sub/x',
    ]);
    const expected = 'C /bin\nD /bin/vi\nA /data\nA /data/sub\nA /data/sub/x\nC /etc\nA /etc/motd';
    // A modified file's parent directories are listed as changed too.
    await daemon.tsctr(['run', '--name', 'modifier', 'busybox', 'sh', '-c', 'echo x >> /etc/group']);
    expect((await daemon.tsctr(['diff', 'modifier'])).stdout).toBe('C /etc\nC /etc/group');
    await daemon.tsctr(['rm', 'modifier']);
    expect((await daemon.tsctr(['diff', 'changer'])).stdout).toBe(expected);
    expect((await daemon.docker(['diff', 'changer'])).stdout).toBe(expected);
  });

  it('commits deletions and additions into an image that runs with them', async () => {
    const id = (
      await daemon.tsctr([
        'commit',
        '-m',
        'test change',
        '-c',
        'CMD ["cat", "/etc/motd"]',
        'changer',
        'committed:1',
      ])
    ).stdout;
    expect(id).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect((await daemon.tsctr(['run', '--rm', 'committed:1'])).stdout).toBe('hi');
    const listing = await daemon.tsctr([
      'run',
      '--rm',
      'committed:1',
      'sh',
      '-c',
      'ls /data/sub; ls /bin/vi 2>&1 || true',
    ]);
    expect(listing.stdout).toBe('x\nls: /bin/vi: No such file or directory');
    const history = (await daemon.tsctr(['history', '--format', '{{.Comment}}', 'committed:1'])).stdout.split(
      '\n',
    );
    expect(history[0]).toBe('test change');
    // The real docker CLI commits through our API too.
    expect((await daemon.docker(['commit', 'changer', 'committed:2'])).stdout).toMatch(/^sha256:/);
  });

  it('commits the same container twice to the same layer digests, and the layer runs', async () => {
    const layers = async (ref: string) =>
      (await daemon.tsctr(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', ref])).stdout;
    await daemon.tsctr(['commit', 'changer', 'committed:again']);
    expect(await layers('committed:again')).toBe(await layers('committed:1'));
    // Its snapshot is the one the first commit made: the same files, the same deletions.
    const listing = await daemon.tsctr([
      'run',
      '--rm',
      'committed:again',
      'sh',
      '-c',
      'ls /data/sub; ls /bin/vi 2>&1 || true',
    ]);
    expect(listing.stdout).toBe('x\nls: /bin/vi: No such file or directory');
    await daemon.tsctr(['rmi', 'committed:again']);
  });

  it('keeps a committed image as it was when its container runs again and appends to its files', async () => {
    await daemon.tsctr(['run', '--name', 'appender', 'busybox', 'sh', '-c', 'echo x >> /grow; cat /grow']);
    await daemon.tsctr(['commit', 'appender', 'appended:1']);
    // The container's layer shares its files with the image's until it is mounted again.
    expect((await daemon.tsctr(['start', '-a', 'appender'])).stdout).toBe('x\nx');
    expect((await daemon.tsctr(['run', '--rm', 'appended:1', 'cat', '/grow'])).stdout).toBe('x');
    expect((await daemon.tsctr(['diff', 'appender'])).stdout).toBe('A /grow');
    await daemon.tsctr(['commit', 'appender', 'appended:2']);
    expect((await daemon.tsctr(['run', '--rm', 'appended:2', 'cat', '/grow'])).stdout).toBe('x\nx');
    await daemon.tsctr(['rm', 'appender']);
    await daemon.tsctr(['rmi', 'appended:2', 'appended:1']);
  });

  it('replaces a directory in a committed layer with an opaque one', async () => {
    await daemon.tsctr([
      'run',
      '--name',
      'opaque',
      'committed:1',
      'sh',
      '-c',
      'rm -rf /data && mkdir /data && touch /data/only',
    ]);
    await daemon.tsctr(['commit', 'opaque', 'committed:3']);
    expect((await daemon.tsctr(['run', '--rm', 'committed:3', 'ls', '/data'])).stdout).toBe('only');
    await daemon.tsctr(['rm', 'opaque']);
  });

  it('exports the merged filesystem of a stopped container', async () => {
    const r = await execa('sh', ['-c', `${TSCTR.shell} export changer | tar -t`], {
      env: daemon.env,
      reject: false,
    });
    expect(r.exitCode).toBe(0);
    const names = r.stdout.split('\n');
    expect(names).toContain('./etc/motd');
    expect(names).toContain('./bin/busybox');
    expect(names).not.toContain('./bin/vi');
    await daemon.tsctr(['rm', 'changer']);
  });

  it('copies files both ways with cp, resolving symlinks inside the container', async () => {
    const host = await mkdtemp(join(tmpdir(), `cp-${process.pid}-`));
    try {
      await daemon.tsctr([
        'run',
        '--name',
        'cpbox',
        'busybox',
        'sh',
        '-c',
        'ln -s /etc/passwd /tmp/pw; ln -s / /escape; mkdir -p /srv/dir && echo inside > /srv/dir/f',
      ]);
      // Container to host: a directory, and a symlink copied as a link (not followed on the host).
      expect((await daemon.tsctr(['cp', 'cpbox:/srv/dir', host])).exitCode).toBe(0);
      expect(await readFile(join(host, 'dir/f'), 'utf8')).toBe('inside\n');
      // `SRC/.` into an existing directory: the contents only (tar's --strip-components=1).
      await mkdir(join(host, 'contents'));
      expect((await daemon.tsctr(['cp', 'cpbox:/srv/dir/.', join(host, 'contents')])).exitCode).toBe(0);
      expect(await readFile(join(host, 'contents/f'), 'utf8')).toBe('inside\n');
      expect((await daemon.tsctr(['cp', 'cpbox:/tmp/pw', join(host, 'pw')])).exitCode).toBe(0);
      expect(await readlink(join(host, 'pw'))).toBe('/etc/passwd');
      // -L follows the link inside the container: the container's passwd, not the host's.
      expect((await daemon.tsctr(['cp', '-L', 'cpbox:/tmp/pw', join(host, 'pw-followed')])).exitCode).toBe(0);
      const containerPasswd = await readFile(join(host, 'pw-followed'), 'utf8');
      expect(containerPasswd).toBe(
        (await daemon.tsctr(['run', '--rm', 'busybox', 'cat', '/etc/passwd'])).stdout + '\n',
      );
      // Host to container through a symlink to / : lands in the container's root.
      await writeFile(join(host, 'upload'), 'uploaded');
      const marker = `tsctr-cp-escape-${process.pid}`;
      await writeFile(join(host, marker), 'x');
      expect((await daemon.tsctr(['cp', join(host, 'upload'), 'cpbox:/escape/tmp/'])).exitCode).toBe(0);
      expect((await daemon.tsctr(['cp', join(host, marker), 'cpbox:/escape/'])).exitCode).toBe(0);
      await expect(readFile(`/${marker}`)).rejects.toThrow();
      expect((await daemon.tsctr(['commit', 'cpbox', 'cpcheck:1'])).exitCode).toBe(0);
      const check = await daemon.tsctr([
        'run',
        '--rm',
        'cpcheck:1',
        'sh',
        '-c',
        `cat /tmp/upload; ls /${marker}`,
      ]);
      expect(check.stdout).toBe(`uploaded/${marker}`);
      // Missing paths fail with Docker's message.
      const missing = await daemon.tsctr(['cp', 'cpbox:/nope', host]);
      expect(missing.exitCode).not.toBe(0);
      expect(missing.stderr).toContain('Could not find the file /nope in container cpbox');
      // The real docker CLI uses the same archive endpoints.
      expect((await daemon.docker(['cp', 'cpbox:/srv/dir/f', join(host, 'docker-f')])).exitCode).toBe(0);
      expect(await readFile(join(host, 'docker-f'), 'utf8')).toBe('inside\n');
      await writeFile(join(host, 'from-docker'), 'd');
      expect((await daemon.docker(['cp', join(host, 'from-docker'), 'cpbox:/srv/'])).exitCode).toBe(0);
      expect((await daemon.tsctr(['diff', 'cpbox'])).stdout).toContain('A /srv/from-docker');
    } finally {
      await daemon.tsctr(['rm', '-f', 'cpbox']);
      await rm(host, { recursive: true, force: true });
    }
  });

  it('runs an image of 100 layers made by committing in a loop', async () => {
    const work = await mkdtemp(join(tmpdir(), `deep-${process.pid}-`));
    try {
      await mkdir(join(work, 'layers'));
      let image = 'busybox';
      for (let i = 1; i <= 100; i++) {
        await writeFile(join(work, 'layers', String(i)), String(i));
        const layer = await execa('tar', ['-c', '-C', work, `layers/${i}`], { encoding: 'buffer' });
        const { Id } = await daemon.client.request<{ Id: string }>('POST', '/containers/create', {
          body: { Image: image, Cmd: ['true'] },
        });
        await daemon.client.request('PUT', `/containers/${Id}/archive`, {
          query: { path: '/' },
          body: Buffer.from(layer.stdout),
        });
        await daemon.client.request('POST', '/commit', {
          query: { container: Id, repo: 'deep', tag: String(i) },
        });
        await daemon.client.request('DELETE', `/containers/${Id}`);
        image = `deep:${i}`;
      }
      const layers = (
        await daemon.tsctr(['image', 'inspect', '--format', '{{len .RootFS.Layers}}', 'deep:100'])
      ).stdout;
      expect(layers).toBe('101');
      const r = await daemon.tsctr([
        'run',
        '--rm',
        'deep:100',
        'sh',
        '-c',
        'ls /layers | wc -l; cat /layers/1 /layers/100',
      ]);
      expect(r.stdout.split('\n').map((l) => l.trim())).toEqual(['100', '1100']);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('cleans rootfs and temporary mounts left by a crash when the daemon starts', async () => {
    const id = (await daemon.tsctr(['create', 'busybox', 'true'])).stdout.trim();
    const rootfs = join(daemon.dataRoot, 'containers', id, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    // As a crash in the middle of a start or an export leaves them.
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', rootfs]);
    const exportDir = join(daemon.execRoot, 'export-crashed', 'rootfs');
    await mkdir(exportDir, { recursive: true });
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', exportDir]);
    await daemon.kill9();
    await daemon.launch();
    expect(await mountPoints(rootfs)).toEqual([]);
    expect(await mountPoints(join(daemon.execRoot, 'export-crashed'))).toEqual([]);
    await expect(readFile(exportDir)).rejects.toThrow(/ENOENT/);
    expect((await daemon.tsctr(['start', id])).exitCode).toBe(0);
    await daemon.tsctr(['rm', '-f', id]);
  });
});

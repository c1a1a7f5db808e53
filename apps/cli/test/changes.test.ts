import { CLI_BIN, TestDaemon, e2eSkipReason } from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkipReason();
if (skip) console.warn(`diff/commit end-to-end tests skipped: ${skip}`);

describe.skipIf(skip !== undefined)('container filesystems: copy-on-write, diff, commit, export', () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    daemon = await TestDaemon.start();
    await daemon.importBusybox();
  });
  afterAll(async () => {
    await daemon?.destroy();
  });

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
    const r = await execa('sh', ['-c', 'node "$CLI" export changer | tar -t'], {
      env: { ...daemon.env, CLI: CLI_BIN },
      reject: false,
    });
    const names = r.stdout.split('\n');
    expect(names).toContain('./etc/motd');
    expect(names).toContain('./bin/busybox');
    expect(names).not.toContain('./bin/vi');
    await daemon.tsctr(['rm', 'changer']);
  });
});

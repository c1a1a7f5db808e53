import { hostname } from 'node:os';
import { CLI_RUNTIMES, e2eSkip, useDaemon } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('tsctr end-to-end tests');

describe.skipIf(skip !== undefined)('tsctr runs real containers', () => {
  const daemon = useDaemon({ busybox: false });

  it('imports a rootfs tarball as a content-addressed image', async () => {
    const id = await daemon.importBusybox();
    expect(id).toMatch(/^sha256:[a-f0-9]{64}$/);
    const images = await daemon.tsctr(['images']);
    expect(images.stdout.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(images.stdout).toContain(`busybox      latest    ${id.slice(7, 19)}`);
  });

  it('runs a command as PID 1 with its own hostname and rootfs, and exits with its code', async () => {
    const r = await daemon.tsctr([
      'run',
      '--rm',
      'busybox',
      'sh',
      '-c',
      'hostname; cat /proc/1/cmdline; echo; ls /; exit 7',
    ]);
    expect(r.exitCode).toBe(7);
    const [host, cmdline, ...ls] = r.stdout.split('\n');
    expect(host).toMatch(/^[a-f0-9]{12}$/);
    expect(host).not.toBe(hostname());
    expect(cmdline).toBe('sh\0-c\0hostname; cat /proc/1/cmdline; echo; ls /; exit 7\0');
    expect(ls).toEqual(expect.arrayContaining(['bin', 'etc', 'proc', 'sys', 'tmp', 'usr']));
    expect((await daemon.tsctr(['ps', '-aq'])).stdout).toBe('');
  });

  it('gives one-line Docker-style errors with Docker exit codes', async () => {
    const badName = await daemon.tsctr(['run', '--rm', 'Bad:Name']);
    expect(badName.exitCode).toBe(125);
    expect(badName.stderr.split('\n')[0]).toBe(
      'tsctr: invalid reference format: repository name (library/Bad) must be lowercase.',
    );
    const missingCmd = await daemon.tsctr(['run', '--rm', 'busybox', 'nosuch']);
    expect(missingCmd.exitCode).toBe(127);
    expect(missingCmd.stderr).toMatch(
      /^tsctr: Error response from daemon: .*exec: "nosuch": executable file not found in \$PATH/,
    );
    expect(missingCmd.stderr).not.toMatch(/\n\s+at /);
    const badFlag = await daemon.tsctr(['run', '--bogus', 'busybox']);
    expect(badFlag.exitCode).toBe(125);
    expect(badFlag.stderr).toBe("unknown flag: --bogus\nSee 'tsctr run --help'.");
  });

  it.each(CLI_RUNTIMES)(
    'reads the output of run, exec and logs without stdin as an answer body, stdout and stderr apart ($name)',
    async (runtime) => {
      const tsctr = (args: string[]) => daemon.tsctr(args, { runtime });
      const script = 'echo out; echo err >&2; seq 1 20000 | tail -1; exit 5';
      const run = await tsctr([
        'run',
        '--name',
        `out-${runtime.name}`,
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        script,
      ]);
      expect(run).toEqual({ stdout: 'out\n20000', stderr: 'err', exitCode: 5 });
      const logs = await tsctr(['logs', `out-${runtime.name}`]);
      expect(logs).toEqual({ stdout: 'out\n20000', stderr: 'err', exitCode: 0 });
      const tty = await tsctr([
        'run',
        '--rm',
        '-t',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'echo on-tty; exit 4',
      ]);
      expect(tty).toMatchObject({ stdout: 'on-tty', exitCode: 4 });
      const box = `exec-${runtime.name}`;
      expect(
        (await tsctr(['run', '-d', '--name', box, '--network', 'none', 'busybox', 'sleep', '60'])).exitCode,
      ).toBe(0);
      expect(await tsctr(['exec', box, 'sh', '-c', script])).toEqual({
        stdout: 'out\n20000',
        stderr: 'err',
        exitCode: 5,
      });
      expect(await tsctr(['exec', '-t', box, 'sh', '-c', 'echo on-tty; exit 3'])).toMatchObject({
        stdout: 'on-tty',
        exitCode: 3,
      });
      // A run that cannot start ends at once, its attach let go.
      const missing = await tsctr(['run', '--rm', '--network', 'none', 'busybox', 'nosuch']);
      expect(missing.exitCode).toBe(127);
      await tsctr(['rm', '-f', box, `out-${runtime.name}`]);
    },
  );

  it('says so, and how to start tsctrd, when the daemon is not running', async () => {
    const r = await daemon.tsctr(['-H', 'unix:///nonexistent/tsctr.sock', 'ps']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      'Cannot connect to the tsctr daemon at unix:///nonexistent/tsctr.sock. Is the tsctr daemon running?\nStart it as root with: tsctrd -H unix:///nonexistent/tsctr.sock &',
    );
  });

  it('runs detached containers that ps, logs, stop and rm manage', async () => {
    const id = (
      await daemon.tsctr(['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'echo started; sleep 300'])
    ).stdout.trim();
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    const ps = await daemon.tsctr(['ps']);
    expect(ps.stdout).toMatch(
      new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"sh -c 'echo starte…"|^${id.slice(0, 12)}`, 'm'),
    );
    expect(ps.stdout).toMatch(/Up .*ticker$/m);
    await expect.poll(async () => (await daemon.tsctr(['logs', 'ticker'])).stdout).toBe('started');
    expect((await daemon.tsctr(['rm', 'ticker'])).exitCode).toBe(1);
    expect((await daemon.tsctr(['stop', '-t', '1', 'ticker'])).stdout).toBe('ticker');
    expect((await daemon.tsctr(['ps', '-a', '--format', '{{.Names}}: {{.Status}}'])).stdout).toMatch(
      /^ticker: Exited \(137\)/,
    );
    expect((await daemon.tsctr(['rm', 'ticker'])).stdout).toBe('ticker');
  });

  it('keeps containers running when the daemon is killed, and learns their exit codes after a restart', async () => {
    const id = (await daemon.tsctr(['run', '-d', 'busybox', 'sh', '-c', 'sleep 2; exit 42'])).stdout.trim();
    await daemon.kill9();
    await daemon.launch();
    const state = await daemon.tsctr(['inspect', '--format', '{{.State.Status}}', id]);
    expect(['running', 'exited']).toContain(state.stdout);
    expect((await daemon.tsctr(['wait', id])).stdout).toBe('42');
    expect((await daemon.tsctr(['inspect', '--format', '{{.State.ExitCode}}', id])).stdout).toBe('42');
    await daemon.tsctr(['rm', id]);
  });
});

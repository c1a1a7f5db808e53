import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import { beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkip('container size tests');

describe.skipIf(skip !== undefined)('container sizes: ps -s and inspect --size', () => {
  const daemon = useDaemon();
  const name = `sizes-${process.pid}`;
  beforeAll(async () => {
    // One MiB written into the writable layer.
    const r = await daemon.tsctr([
      'run',
      '--name',
      name,
      'busybox',
      'sh',
      '-c',
      'head -c 1048576 /dev/zero > /blob',
    ]);
    expect(r.exitCode).toBe(0);
  });

  it('ps -s shows the writable layer and the virtual size, as Docker prints them', async () => {
    const ps = await daemon.tsctr(['ps', '-a', '-s', '--format', '{{.Names}} {{.Size}}']);
    expect(ps.stdout).toMatch(new RegExp(`^${name} 1\\.0[0-9]MB \\(virtual [0-9.]+MB\\)$`));
    const table = await daemon.tsctr(['ps', '-a', '-s']);
    expect(table.stdout.split('\n')[0]).toMatch(/NAMES\s+SIZE$/);
    // Without -s nothing is measured: the docker CLI shows 0B then.
    const plain = JSON.parse((await daemon.tsctr(['ps', '-a', '--format', '{{json .}}'])).stdout) as {
      Size: string;
    };
    expect(plain.Size).toBe('0B');
  });

  it('inspect --size reports SizeRw and SizeRootFs, through tsctr and the docker CLI', async () => {
    const [rw, rootfs] = (
      await daemon.tsctr(['inspect', '--size', '--format', '{{.SizeRw}} {{.SizeRootFs}}', name])
    ).stdout
      .split(' ')
      .map(Number);
    expect(rw).toBeGreaterThanOrEqual(1048576);
    expect(rw).toBeLessThan(1048576 + 64 * 1024);
    const imageSize = Number(
      (await daemon.tsctr(['image', 'inspect', '--format', '{{.Size}}', 'busybox'])).stdout,
    );
    expect(rootfs).toBe(rw! + imageSize);
    const docker = await daemon.docker(['container', 'inspect', '-s', '--format', '{{.SizeRw}}', name]);
    expect(Number(docker.stdout)).toBe(rw);
    const dockerPs = await daemon.docker(['ps', '-a', '-s', '--format', '{{.Size}}']);
    expect(dockerPs.stdout).toMatch(/^1\.0[0-9]MB \(virtual [0-9.]+MB\)$/);
  });

  it('inspect finds networks too, and says so for what does not exist', async () => {
    const net = await daemon.tsctr(['inspect', '--format', '{{.Name}} {{.Driver}}', 'bridge']);
    expect(net.stdout).toBe('bridge bridge');
    const missing = await daemon.tsctr(['inspect', 'no-such-object']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe('Error: No such object: no-such-object');
  });
});

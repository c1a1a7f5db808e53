import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('tsctr/docker create-request parity tests');

/** What `run` asks of the engine, side by side with the docker CLI's request (both against tsctrd). */
describe.skipIf(skip !== undefined)('`run -i` sends what the docker CLI sends', () => {
  const daemon = useDaemon();

  const STDIO = ['AttachStdin', 'AttachStdout', 'AttachStderr', 'OpenStdin', 'StdinOnce', 'Tty'] as const;

  async function stdioConfig(cli: 'docker' | 'tsctr', args: string[]) {
    const r = await daemon[cli](args);
    expect(r.exitCode).toBe(0);
    const id = r.stdout.trim().split('\n').pop()!;
    const config = JSON.parse((await daemon.docker(['inspect', id])).stdout)[0].Config;
    await daemon.docker(['rm', '-f', id]);
    return Object.fromEntries(STDIO.map((k) => [k, config[k]]));
  }

  it('`run -d -i` keeps stdin open for later attaches (StdinOnce false) and attaches nothing', async () => {
    const args = ['run', '-d', '-i', 'busybox', 'cat'];
    const docker = await stdioConfig('docker', args);
    expect(docker).toEqual({
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      OpenStdin: true,
      StdinOnce: false,
      Tty: false,
    });
    expect(await stdioConfig('tsctr', args)).toEqual(docker);
  });

  it('`create -i` closes stdin after the first attach, as `run -i` attached does', async () => {
    const args = ['create', '-i', 'busybox', 'cat'];
    const docker = await stdioConfig('docker', args);
    expect(docker.StdinOnce).toBe(true);
    expect(await stdioConfig('tsctr', args)).toEqual(docker);
  });
});

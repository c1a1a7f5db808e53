import { PassThrough } from 'node:stream';
import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import Docker from 'dockerode';
import { GenericContainer, Wait } from 'testcontainers';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('dockerode/testcontainers tests');

/** Two of the Node clients users point at Docker: dockerode, and testcontainers (built on it). */
describe.skipIf(skip !== undefined)('Node Docker clients against tsctrd', () => {
  const daemon = useDaemon();
  const docker = new Docker({ socketPath: daemon.socketPath });

  it('dockerode: create, start, demultiplexed logs, wait, exec, remove', async () => {
    const container = await docker.createContainer({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; sleep 30'],
      Labels: { 'test.client': 'dockerode' },
    });
    await container.start();
    const listed = await docker.listContainers({ filters: { label: ['test.client=dockerode'] } });
    expect(listed.map((c) => c.Id)).toEqual([container.id]);

    const exec = await container.exec({ Cmd: ['sh', '-c', 'echo exec-out; exit 3'], AttachStdout: true });
    const stream = await exec.start({});
    let execOut = '';
    const out = new PassThrough().on('data', (c: Buffer) => {
      execOut += c.toString();
    });
    docker.modem.demuxStream(stream, out, new PassThrough());
    await new Promise((resolve) => stream.on('end', resolve));
    expect(execOut).toBe('exec-out\n');
    expect((await exec.inspect()).ExitCode).toBe(3);

    await container.kill();
    expect((await container.wait()).StatusCode).toBe(137);
    const logs = await container.logs({ stdout: true, stderr: true, follow: false });
    // A non-tty container's log stream is multiplexed: 8-byte frame headers name the stream.
    const frames: { stream: number; text: string }[] = [];
    for (let i = 0; i < logs.length; ) {
      const size = logs.readUInt32BE(i + 4);
      frames.push({ stream: logs[i]!, text: logs.subarray(i + 8, i + 8 + size).toString() });
      i += 8 + size;
    }
    expect(frames).toEqual([
      { stream: 1, text: 'to-stdout\n' },
      { stream: 2, text: 'to-stderr\n' },
    ]);
    await container.remove();
    await expect(container.inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('dockerode: images and networks', async () => {
    const images = await docker.listImages();
    expect(images.some((i) => i.RepoTags?.includes('busybox:latest'))).toBe(true);
    const network = await docker.createNetwork({ Name: `dockerode-${process.pid}` });
    expect((await network.inspect()).Name).toBe(`dockerode-${process.pid}`);
    await network.remove();
  });

  it('testcontainers: a GenericContainer with a log wait strategy, a mapped port and exec', async () => {
    const previous = { host: process.env.DOCKER_HOST, ryuk: process.env.TESTCONTAINERS_RYUK_DISABLED };
    // Ryuk (the reaper) is an image from Docker Hub, unreachable here: the test stops its container itself.
    process.env.DOCKER_HOST = `unix://${daemon.socketPath}`;
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    try {
      const container = await new GenericContainer('busybox')
        .withCommand([
          'sh',
          '-c',
          'mkdir -p /www && echo served > /www/index.html && echo ready && exec httpd -f -p 8080 -h /www',
        ])
        .withExposedPorts(8080)
        // "ready" is printed just before httpd binds: the port is waited for too.
        .withWaitStrategy(Wait.forAll([Wait.forLogMessage('ready'), Wait.forListeningPorts()]))
        .start();
      try {
        const page = await fetch(`http://${container.getHost()}:${container.getMappedPort(8080)}/`);
        expect(await page.text()).toBe('served\n');
        const r = await container.exec(['echo', 'exec-ok']);
        expect(r.exitCode).toBe(0);
        expect(r.output.trim()).toBe('exec-ok');
      } finally {
        await container.stop();
      }
    } finally {
      if (previous.host === undefined) Reflect.deleteProperty(process.env, 'DOCKER_HOST');
      else process.env.DOCKER_HOST = previous.host;
      if (previous.ryuk === undefined) Reflect.deleteProperty(process.env, 'TESTCONTAINERS_RYUK_DISABLED');
      else process.env.TESTCONTAINERS_RYUK_DISABLED = previous.ryuk;
    }
  });
});

import { readFile, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';
import { frames, rawRequest, readAll, readHead } from './raw-http.js';

const skip = e2eSkip('attach stdin failure tests');

/**
 * A client's input that cannot reach the container is an error the client sees, as Docker
 * reports it, never input lost in silence or a client left waiting: before the 101 it is the
 * request's status, after it the stream ends with the reason.
 */
describe.skipIf(skip !== undefined)('attach when stdin cannot be delivered', () => {
  const daemon = useDaemon();

  async function runInteractive(name: string): Promise<{ id: string; bundle: string }> {
    const r = await daemon.tsctr(['run', '-d', '-i', '--name', name, 'busybox', 'cat']);
    expect(r.exitCode).toBe(0);
    const id = r.stdout.trim();
    return { id, bundle: join(daemon.execRoot, 'bundles', id) };
  }

  async function ping(): Promise<number> {
    const socket = rawRequest(daemon.socketPath, 'GET', '/_ping');
    const { status } = await readHead(socket);
    socket.destroy();
    return status;
  }

  function attach(name: string) {
    return rawRequest(
      daemon.socketPath,
      'POST',
      `/containers/${name}/attach?stream=1&stdin=1&stdout=1&stderr=1`,
      {
        upgrade: true,
      },
    );
  }

  it('answers an error status when the attach socket is gone, and the daemon serves on', async () => {
    const { bundle } = await runInteractive('no-socket');
    // conmon still listens, but nothing can connect to it any more.
    await rm(join(bundle, 'attach'));
    const socket = attach('no-socket');
    const { status, rest } = await readHead(socket);
    const body = (await readAll(socket, rest, 10_000)).toString();
    expect(status).toBe(500);
    expect(JSON.parse(body).message).toMatch(/^attach failed: .*No such file or directory/);
    expect(body).not.toContain(daemon.execRoot);
    expect(await ping()).toBe(200);
    // The container still stops.
    expect((await daemon.tsctr(['rm', '-f', 'no-socket'])).exitCode).toBe(0);
  });

  it('ends the stream with the reason when the input stops reaching the container', async () => {
    const { id, bundle } = await runInteractive('monitor-killed');
    const socket = attach('monitor-killed');
    const { status, rest } = await readHead(socket);
    expect(status).toBe(101);
    socket.write('first\n');
    // The container echoes what it is given: stdin is connected.
    const received: Buffer[] = [rest];
    socket.on('data', (c: Buffer) => received.push(c));
    socket.resume();
    await until(() => Buffer.concat(received).includes('first\n'));
    // Its monitor is killed: conmon holds the container's stdin, which nothing can feed now.
    const conmon = Number((await readFile(join(bundle, 'conmon.pid'), 'utf8')).trim());
    process.kill(conmon, 'SIGKILL');
    await expectToldAndLetGo(socket, received);
    // The daemon notices its monitor is gone: the container is recorded exited (137, as
    // containerd reports a dead shim) without anyone writing the exit file for it.
    for (let i = 0; i < 300; i++) {
      const state = JSON.parse((await daemon.tsctr(['inspect', id])).stdout)[0].State;
      if (!state.Running) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const state = JSON.parse((await daemon.tsctr(['inspect', id])).stdout)[0].State;
    expect([state.Status, state.ExitCode]).toEqual(['exited', 137]);
    expect(await ping()).toBe(200);
    expect((await daemon.tsctr(['rm', '-f', 'monitor-killed'])).exitCode).toBe(0);
  });

  async function expectToldAndLetGo(socket: Socket, received: Buffer[]): Promise<void> {
    let closed = false;
    socket.once('close', () => {
      closed = true;
    });
    // The user keeps typing (what is written while the monitor is still dying may be taken by
    // the kernel and lost, as with any pipe); the next write finds it gone.
    for (let i = 0; i < 100 && !closed; i++) {
      socket.write(`more-${i}\n`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The client is told, and let go of, instead of typing into nothing.
    expect(closed).toBe(true);
    const text = frames(Buffer.concat(received))
      .map(([, t]) => t)
      .join('');
    expect(text).toMatch(/attach failed: .*(Broken pipe|Connection reset by peer)\r\n$/);
    expect(text).not.toContain(daemon.execRoot);
  }
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(check()).toBe(true);
}

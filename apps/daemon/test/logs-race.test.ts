import type { Socket } from 'node:net';
import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';
import { api, dechunk, frames, rawRequest, readHead } from './raw-http.js';

const skip = e2eSkip('logs race test');
const ROUNDS = Number(process.env.LOGS_RACE_ROUNDS ?? 30);

/** `GET /logs` of a container, as text. */
async function logs(socketPath: string, id: string): Promise<string> {
  const socket = rawRequest(socketPath, 'GET', `/containers/${id}/logs?stdout=1&stderr=1`);
  const { status, rest } = await readHead(socket);
  expect(status).toBe(200);
  const body = await readChunked(socket, rest);
  socket.destroy();
  return frames(body)
    .map(([, text]) => text)
    .join('');
}

/** A chunked body to its last chunk (the connection stays open: keep-alive). */
function readChunked(socket: Socket, first: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = first;
    const check = () => {
      if (!buf.subarray(-5).equals(Buffer.from('0\r\n\r\n'))) return false;
      socket.off('data', onData);
      resolve(dechunk(buf));
      return true;
    };
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      check();
    };
    if (check()) return;
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before the body's end: ${buf.toString()}`)));
    socket.resume();
  });
}

/**
 * Docker's promise: once `wait` has answered, `logs` holds all the container wrote. Short
 * containers read right after they end, many times (the log is shipped from conmon's spool,
 * so a read that overtakes the shipping would come back short).
 */
describe.skipIf(skip !== undefined)('logs after a container ends', () => {
  const daemon = useDaemon();

  it('has every line once wait has answered', async () => {
    const short: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const created = await api<{ Id: string }>(daemon.socketPath, 'POST', '/containers/create', {
        Image: 'busybox',
        Cmd: ['sh', '-c', `echo one-${i}; echo two-${i} >&2; echo three-${i}`],
      });
      expect(created.status).toBe(201);
      const id = created.body.Id;
      // Half the rounds as `docker run` (a wait for the next exit, registered before the start),
      // half as docker-py's tests (start, then wait while it runs or after it ended).
      const early = i % 2 === 0;
      const wait = early
        ? rawRequest(daemon.socketPath, 'POST', `/containers/${id}/wait?condition=next-exit`)
        : undefined;
      const head = wait ? await readHead(wait) : undefined;
      expect((await api(daemon.socketPath, 'POST', `/containers/${id}/start`)).status).toBe(204);
      if (wait && head) {
        expect((await readChunked(wait, head.rest)).toString()).toContain('"StatusCode":0');
        wait.destroy();
      } else {
        const late = rawRequest(daemon.socketPath, 'POST', `/containers/${id}/wait`);
        expect((await readChunked(late, (await readHead(late)).rest)).toString()).toContain('"StatusCode":0');
        late.destroy();
      }
      const text = await logs(daemon.socketPath, id);
      if (text.split('\n').filter(Boolean).length !== 3) short.push(`${i}: ${JSON.stringify(text)}`);
      await api(daemon.socketPath, 'DELETE', `/containers/${id}?force=1`);
    }
    expect(short).toEqual([]);
  });
});

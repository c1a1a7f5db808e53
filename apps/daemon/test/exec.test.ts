import { existsSync } from 'node:fs';
import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import { beforeAll, describe, expect, it } from 'vitest';
import { api, frames, rawRequest, readAll, readHead } from './raw-http.js';

const skip = e2eSkip('exec tests');

interface ExecInspect {
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
}

async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `POST /exec/{id}/start` and its streams, as docker-py and the docker CLI drive them. */
describe.skipIf(skip !== undefined)('exec streams', () => {
  const daemon = useDaemon();
  let container: string;
  const createExec = async (config: Record<string, unknown>) => {
    const r = await api<{ Id: string }>(daemon.socketPath, 'POST', `/containers/${container}/exec`, config);
    expect(r.status).toBe(201);
    return r.body.Id;
  };
  const inspectExec = async (id: string) =>
    (await api<ExecInspect>(daemon.socketPath, 'GET', `/exec/${id}/json`)).body;
  const ping = async () => {
    const socket = rawRequest(daemon.socketPath, 'GET', '/_ping');
    const { status } = await readHead(socket).catch(() => ({ status: 0 }));
    socket.destroy();
    return status;
  };

  beforeAll(async () => {
    const run = await daemon.tsctr(['run', '-d', '-i', 'busybox', 'cat']);
    expect(run.exitCode).toBe(0);
    container = run.stdout.trim();
  });

  it('a client that resets its hijacked exec socket ends only its own exec (the process is killed)', async () => {
    for (const Tty of [false, true]) {
      // A closed client is noticed when its stream is next written to (a half-close is only the
      // end of stdin, the client may still read).
      const id = await createExec({
        Cmd: ['sh', '-c', 'while true; do echo tick; sleep 0.1; done'],
        Tty,
        AttachStdin: true,
      });
      const socket = rawRequest(daemon.socketPath, 'POST', `/exec/${id}/start`, {
        body: { Tty },
        upgrade: true,
      });
      expect((await readHead(socket)).status).toBe(101);
      await eventually(async () => (await inspectExec(id)).Pid > 0);
      const { Pid } = await inspectExec(id);
      await new Promise((r) => setTimeout(r, 200));
      socket.destroy();
      await eventually(async () => !(await inspectExec(id)).Running);
      expect(existsSync(`/proc/${Pid}`)).toBe(false);
      expect(await ping()).toBe(200);
    }
  });

  it('exec as a user missing from /etc/passwd: Docker message on the stream, exit code 126, no crash', async () => {
    const message =
      'unable to start container process: unable to find user postgres: no matching entries in passwd file';
    // Upgraded (the docker CLI, docker-py's socket): the answer is a 101, then the message.
    const upgraded = await createExec({ Cmd: ['whoami'], User: 'postgres' });
    const socket = rawRequest(daemon.socketPath, 'POST', `/exec/${upgraded}/start`, {
      body: {},
      upgrade: true,
    });
    const head = await readHead(socket);
    expect(head.status).toBe(101);
    expect(frames(await readAll(socket, head.rest))).toEqual([
      [1, expect.stringContaining(message) as unknown as string],
    ]);
    expect(await inspectExec(upgraded)).toMatchObject({ Running: false, ExitCode: 126 });
    // Plain request (docker-py's exec_start without socket): a 200 whose body says the same.
    const plain = await createExec({ Cmd: ['whoami'], User: 'postgres' });
    const s2 = rawRequest(daemon.socketPath, 'POST', `/exec/${plain}/start`, { body: {} });
    const h2 = await readHead(s2);
    expect(h2.status).toBe(200);
    expect((await readAll(s2, h2.rest)).toString()).toContain(message);
    expect(await inspectExec(plain)).toMatchObject({ Running: false, ExitCode: 126 });
    expect(await ping()).toBe(200);
  });

  it("frames the output by the start request's Tty, not the exec's", async () => {
    // A tty exec started without Tty (docker-py's default): framed, everything on stdout.
    const framed = await createExec({ Cmd: ['sh', '-c', 'printf out; printf err >&2'], Tty: true });
    const s1 = rawRequest(daemon.socketPath, 'POST', `/exec/${framed}/start`, { body: {}, upgrade: true });
    const h1 = await readHead(s1);
    expect(h1.head).toContain('application/vnd.docker.multiplexed-stream');
    const got = frames(await readAll(s1, h1.rest));
    expect(got.every(([stream]) => stream === 1)).toBe(true);
    expect(got.map(([, text]) => text).join('')).toBe('outerr');
    // Started with Tty: the raw stream.
    const raw = await createExec({ Cmd: ['printf', 'yay'], Tty: true });
    const s2 = rawRequest(daemon.socketPath, 'POST', `/exec/${raw}/start`, {
      body: { Tty: true },
      upgrade: true,
    });
    const h2 = await readHead(s2);
    expect(h2.head).toContain('application/vnd.docker.raw-stream');
    expect((await readAll(s2, h2.rest)).toString()).toBe('yay');
  });

  it('the detach keys of the exec (DetachKeys, or docker-py\'s "detachKeys") end the stream, not the process', async () => {
    for (const [field, keys, bytes] of [
      ['DetachKeys', 'ctrl-x', '\x18'],
      ['detachKeys', 'ctrl-p', '\x10'],
      [undefined, undefined, '\x10\x11'],
    ] as const) {
      const id = await createExec({
        Cmd: ['cat'],
        Tty: true,
        AttachStdin: true,
        ...(field ? { [field]: keys } : {}),
      });
      const socket = rawRequest(daemon.socketPath, 'POST', `/exec/${id}/start`, {
        body: { Tty: true },
        upgrade: true,
      });
      const head = await readHead(socket);
      expect(head.status).toBe(101);
      socket.write('hello\n');
      const ended = readAll(socket, head.rest);
      await new Promise((r) => setTimeout(r, 200));
      socket.write(bytes);
      expect((await ended).toString()).toContain('hello');
      expect(await inspectExec(id)).toMatchObject({ Running: true });
    }
    const invalid = await api<{ message: string }>(
      daemon.socketPath,
      'POST',
      `/containers/${container}/exec`,
      {
        Cmd: ['true'],
        DetachKeys: 'ctrl-',
      },
    );
    expect(invalid).toEqual({ status: 400, body: { message: 'Invalid detach keys (ctrl-) provided' } });
  });

  it("a tty exec's output is the process's, never the OCI runtime's log lines (issue 17)", async () => {
    // crun relays the terminal itself; what it had not relayed when the process exited it used
    // to print as a red, timestamped log line on the terminal. A few dozen runs catch the race.
    const outputs = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const id = await createExec({ Cmd: ['tty'], Tty: true });
      const socket = rawRequest(daemon.socketPath, 'POST', `/exec/${id}/start`, {
        body: { Tty: true },
        upgrade: true,
      });
      const head = await readHead(socket);
      outputs.add((await readAll(socket, head.rest)).toString());
    }
    expect([...outputs].every((o) => /^\/dev\/pts\/\d+\r\n$/.test(o))).toBe(true);
  });
});

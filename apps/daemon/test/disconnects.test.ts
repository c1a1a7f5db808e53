import { readFile, rm, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { TestRegistry, e2eSkip, registrySkipReason, useDaemon, useTempDir } from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, openFds, processFootprint, rawRequest, readHead } from './raw-http.js';

const skip = e2eSkip('disconnect stress test');
const pullSkip = registrySkipReason();
if (pullSkip) console.warn(`disconnect stress test: pull streams left out (${pullSkip})`);

/** How many connections are cut, and by how many clients at once. */
const CUTS = Number(process.env.DISCONNECT_CUTS ?? 300);
const PARALLEL = 6;

/**
 * Clients that vanish mid-stream (a closed terminal, a killed script, a timeout) cost only their
 * own request: every kind of stream is opened and its connection cut at a random moment, a few
 * hundred times, and the daemon must still answer and hold no more processes, descriptors or
 * mounts than before.
 */
describe.skipIf(skip !== undefined)('clients that disconnect mid-stream', () => {
  const scratch = useTempDir('tsctr-disconnects-');
  const daemon = useDaemon();
  const contextTar = join(scratch, 'context.tar');
  let registry: TestRegistry | undefined;
  let daemonPid: number;

  beforeAll(async () => {
    daemonPid = Number((await readFile(join(daemon.execRoot, 'tsctrd.pid'), 'utf8')).trim());
    for (const [name, tty] of [
      ['chatty', false],
      ['chatty-tty', true],
    ] as const) {
      const r = await daemon.tsctr([
        'run',
        '-d',
        '-i',
        ...(tty ? ['-t'] : []),
        '--name',
        name,
        'busybox',
        'sh',
        '-c',
        'while true; do echo line; sleep 0.05; done',
      ]);
      expect(r.exitCode).toBe(0);
    }
    await writeFile(
      join(scratch, 'Dockerfile'),
      'FROM busybox\nRUN echo building; sleep 0.3\nCMD ["true"]\n',
    );
    await execa('tar', ['-C', scratch, '-cf', contextTar, 'Dockerfile']);
    if (!pullSkip) {
      registry = await TestRegistry.start();
      const name = `${registry.host}/stress/busybox:1`;
      expect((await daemon.tsctr(['tag', 'busybox', name])).exitCode).toBe(0);
      expect((await daemon.tsctr(['push', name])).exitCode).toBe(0);
    }
  }, 120_000);
  afterAll(async () => {
    // Known bug (see the report of this test's commit): conmon drains a stopping tty container's
    // terminal to every attached connection and blocks on the stdin relay (`socat -u`), which never
    // reads; the removal would wait forever. Ending the relays lets the cleanup through.
    if (daemonPid) {
      const { children } = await processFootprint(daemonPid).catch(() => ({ children: [] as string[] }));
      for (const c of children.filter((c) => c.includes('socat -u - UNIX-CONNECT:')))
        process.kill(Number(c.split(' ')[0]), 'SIGTERM');
    }
    if (process.env.DISCONNECT_KEEP_LOG) await execa('cp', [daemon.logPath, process.env.DISCONNECT_KEEP_LOG]);
    await registry?.stop();
  }, 60_000);

  const execStart = async (cmd: string[], tty: boolean): Promise<Socket> => {
    const { body } = await api<{ Id: string }>(daemon.socketPath, 'POST', '/containers/chatty/exec', {
      Cmd: cmd,
      Tty: tty,
      AttachStdin: true,
    });
    return rawRequest(daemon.socketPath, 'POST', `/exec/${body.Id}/start`, {
      body: { Tty: tty },
      upgrade: true,
    });
  };

  /** Each kind of stream the daemon serves, opened as a client would. */
  const streams: Record<string, () => Promise<Socket>> = {
    attach: async () =>
      rawRequest(daemon.socketPath, 'POST', '/containers/chatty/attach?stream=1&stdin=1&stdout=1&stderr=1', {
        upgrade: true,
      }),
    'attach-tty': async () =>
      rawRequest(daemon.socketPath, 'POST', '/containers/chatty-tty/attach?stream=1&stdin=1&stdout=1', {
        upgrade: true,
      }),
    // `yes` writes faster than a client that stops reading takes: the daemon must not wait forever.
    exec: () => execStart(['yes'], false),
    'exec-tty': () => execStart(['sh', '-c', 'while true; do echo tick; sleep 0.1; done'], true),
    'exec-stdin': () => execStart(['cat'], false),
    logs: async () =>
      rawRequest(daemon.socketPath, 'GET', '/containers/chatty/logs?follow=1&stdout=1&stderr=1&tail=all'),
    events: async () => rawRequest(daemon.socketPath, 'GET', '/events'),
    stats: async () => rawRequest(daemon.socketPath, 'GET', '/containers/chatty/stats'),
    wait: async () => rawRequest(daemon.socketPath, 'POST', '/containers/chatty/wait'),
    archive: async () => rawRequest(daemon.socketPath, 'GET', '/containers/chatty/archive?path=/bin'),
    export: async () => rawRequest(daemon.socketPath, 'GET', '/images/busybox/get'),
    build: async () =>
      rawRequest(daemon.socketPath, 'POST', '/build?t=stress:latest&rm=1&forcerm=1', {
        tar: await readFile(contextTar),
      }),
    ...(pullSkip
      ? {}
      : {
          pull: async () =>
            rawRequest(
              daemon.socketPath,
              'POST',
              `/images/create?fromImage=${registry!.host}/stress/busybox&tag=1`,
            ),
        }),
  };

  const footprint = async () => {
    const { fds, children } = await processFootprint(daemonPid);
    // Not counted: `sleep`s that come and go by themselves, and the one connection to each
    // container's stdin that attaching with stdin opens for the life of the container.
    const lasting = children.filter((c) => !/^\d+ (sleep |\/usr\/bin\/socat (-u )?- UNIX-CONNECT:)/.test(c));
    const stdinRelays = children
      .filter((c) => / UNIX-CONNECT:.*\/attach,/.test(c))
      .map((c) => c.replace(/^\d+ /, ''));
    // A relay that was just replaced lingers for socat's half-close timeout (0.5 s).
    const extraRelays = stdinRelays.length - new Set(stdinRelays).size;
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .filter((l) => l.includes(daemon.dir)).length;
    return {
      fds,
      children: lasting,
      mounts,
      extraRelays,
      relays: children.filter((c) => c.includes('UNIX-CONNECT')),
    };
  };

  it(`survives ${CUTS} connections cut at random moments and leaks nothing`, async () => {
    // Once each to the end first, so that what the daemon sets up once (watchers, caches) is there.
    // Each kind answers with its stream (this test would prove nothing against error answers).
    const answers: Record<string, number> = {};
    for (const [kind, open] of Object.entries(streams)) {
      const s = await open();
      answers[kind] = (await readHead(s)).status;
      await new Promise((r) => setTimeout(r, 300));
      s.destroy();
    }
    expect(Object.entries(answers).filter(([, status]) => status !== 200 && status !== 101)).toEqual([]);
    await new Promise((r) => setTimeout(r, 2000));
    const before = await footprint();
    const fdsBefore = await openFds(daemonPid);

    const kinds = Object.keys(streams);
    const deadline = Date.now() + 75_000;
    let cut = 0;
    const worker = async () => {
      while (cut < CUTS && Date.now() < deadline) {
        cut++;
        const kind = kinds[Math.floor(Math.random() * kinds.length)]!;
        const socket = await streams[kind]!();
        // Sometimes before the answer, sometimes well into the stream.
        if (Math.random() < 0.5) {
          await Promise.race([
            readHead(socket).catch(() => undefined),
            new Promise((r) => setTimeout(r, 500)),
          ]);
          socket.resume();
        }
        await new Promise((r) => setTimeout(r, Math.random() * 250));
        socket.destroy();
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    expect(cut).toBeGreaterThanOrEqual(Math.min(CUTS, 150));

    const ping = rawRequest(daemon.socketPath, 'GET', '/_ping');
    expect((await readHead(ping)).status).toBe(200);
    ping.destroy();

    // Builds and pulls a client left finish or stop on their own; give them time to settle.
    let after = await footprint();
    for (let i = 0; i < 60; i++) {
      if (
        after.fds <= before.fds + 2 &&
        after.children.length <= before.children.length &&
        after.mounts <= before.mounts &&
        after.extraRelays === 0
      )
        break;
      await new Promise((r) => setTimeout(r, 500));
      after = await footprint();
    }
    const fdsAfter = await openFds(daemonPid);
    expect(after.mounts).toBe(before.mounts);
    expect(after.extraRelays, `one stdin relay per container: ${after.relays.join('\n')}`).toBe(0);
    expect(after.children.length, `processes left: ${after.children.join('\n')}`).toBeLessThanOrEqual(
      before.children.length,
    );
    const fdKinds = (fds: string[]) => {
      const count = new Map<string, number>();
      for (const f of fds) {
        const kind = f
          .split(' ')[1]!
          .replace(/:\[\d+\]$/, '')
          .replace(/\/[^/]*$/, '/');
        count.set(kind, (count.get(kind) ?? 0) + 1);
      }
      return count;
    };
    const was = fdKinds(fdsBefore);
    const grown = [...fdKinds(fdsAfter)]
      .filter(([k, n]) => n > (was.get(k) ?? 0))
      .map(([k, n]) => `${k}: ${was.get(k) ?? 0} -> ${n}`);
    expect(after.fds, `descriptors left: ${grown.join(', ')}`).toBeLessThanOrEqual(before.fds + 2);
    // The containers the streams were about are still fine.
    const r = await daemon.tsctr(['exec', 'chatty', 'echo', 'still-here']);
    expect(r.stdout).toBe('still-here');
    const states = await daemon.tsctr([
      'ps',
      '-a',
      '--format',
      '{{.Names}} {{.State}}',
      '--filter',
      'name=chatty',
    ]);
    expect(states.stdout.split('\n').sort()).toEqual(['chatty running', 'chatty-tty running']);
    // ...and still writing: a stdin relay that left conmon's packets unread would block conmon,
    // and the container's output with it.
    for (const name of ['chatty', 'chatty-tty']) {
      const lines = async () => (await daemon.tsctr(['logs', name])).stdout.split('\n').length;
      const first = await lines();
      await new Promise((r) => setTimeout(r, 1000));
      expect({ name, grows: (await lines()) > first }).toEqual({ name, grows: true });
    }
  }, 150_000);
});

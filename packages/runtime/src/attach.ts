import { open } from 'node:fs/promises';
import { relative } from 'node:path';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { RuntimeError } from './errors.js';
import { monitorPaths } from './monitor.js';
import { findExecutable } from './oci-runtime.js';

/**
 * Feeds `input` to the stdin of a container started with `stdin: true`, through conmon's
 * attach socket. Resolves when `input` has ended and the connection is closed; conmon then
 * closes the container's stdin (EOF), unless another client is still attached.
 *
 * The attach socket is a SOCK_SEQPACKET unix socket, which Node's `net` module cannot open.
 * `socat` bridges it: one small process per attached client, started in a few milliseconds,
 * with no native addon to build or ship (measured alternatives: a compiled helper would need a
 * C toolchain at install time; npm packages with SEQPACKET support ship prebuilt binaries for
 * a few platforms only).
 */
export async function attachStdin(
  bundle: string,
  input: Readable,
  options: { onConnected?: () => void } = {},
): Promise<void> {
  const socat = await findExecutable('socat');
  if (!socat)
    throw new RuntimeError('unavailable', 'socat not found: install it with "apt-get install socat"');
  const socket = monitorPaths(bundle).attachSocket;
  // Named relative to the bundle: a unix socket's address holds at most 107 bytes, which a
  // deep --exec-root passes (socat would fail to connect and the client wait for ever).
  const address = `UNIX-CONNECT:${relative(bundle, socket)},socktype=5`;
  // Both directions: conmon writes the container's output to every attached connection and
  // blocks (log and all) once one is full, so what it sends is read and dropped (stdout
  // ignored); the output is read from the log file. -d -d: socat says when it is connected
  // ("starting data transfer loop") and why it failed.
  const bridge = execa(socat, ['-d', '-d', '-', address], {
    cwd: bundle,
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'pipe',
    reject: false,
  });
  const sink = bridge.stdin!;
  sink.on('error', () => undefined); // socat gone: its exit status says why
  const onConnected = options.onConnected;
  if (onConnected) {
    let said = '';
    const watchStderr = (chunk: Buffer) => {
      said += chunk.toString();
      if (!said.includes('starting data transfer loop')) return;
      bridge.stderr?.off('data', watchStderr);
      onConnected();
    };
    bridge.stderr?.on('data', watchStderr);
  }
  input.pipe(sink);
  input.on('error', () => sink.end());
  const result = await bridge;
  input.unpipe(sink);
  input.resume();
  if (result.exitCode !== 0 && !result.isTerminated)
    throw new RuntimeError('system', `attach failed: ${socatErrors(String(result.stderr))}`);
  // Seen about once in fifteen runs: conmon misses the EOF of a connection that ends right
  // after it started (the container keeps waiting for input). A second, empty connection
  // repeats the EOF; when stdin is already closed, conmon ignores it.
  await new Promise((r) => setTimeout(r, 50));
  await execa(socat, ['-u', '/dev/null', address], { cwd: bundle, reject: false });
}

/**
 * Sets the window size of a container's terminal (`-t`) through conmon's control fifo: the
 * message `1 <rows> <cols>` is conmon's resize event.
 */
export async function resizeTerminal(bundle: string, rows: number, cols: number): Promise<void> {
  await sendControl(bundle, `1 ${Math.max(1, Math.round(rows))} ${Math.max(1, Math.round(cols))}\n`);
}

/**
 * Asks conmon to reopen the container's log file (message `2 0 0`, its reopen event): after
 * the file was renamed away, conmon starts a new one at the original path.
 */
export async function reopenLog(bundle: string): Promise<void> {
  await sendControl(bundle, '2 0 0\n');
}

async function sendControl(bundle: string, message: string): Promise<void> {
  const { ctlFifo } = monitorPaths(bundle);
  // Read-write: opening a fifo write-only blocks until a reader appears (never, if conmon is gone).
  const fh = await open(ctlFifo, 'w+').catch(() => undefined);
  if (!fh) throw new RuntimeError('system', `${ctlFifo} is not available`);
  try {
    await fh.write(message);
  } finally {
    await fh.close();
  }
}

/** socat's error lines (`… socat[PID] E connect(…): No such file or directory`), without their prefix. */
function socatErrors(stderr: string): string {
  const errors = stderr
    .split('\n')
    .map((line) => /\bsocat\[\d+\] [EF] (.*)$/.exec(line)?.[1])
    .filter((line): line is string => line !== undefined);
  return errors.length > 0 ? errors.join('; ') : stderr.trim();
}

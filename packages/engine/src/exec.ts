import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '@ts-container/common';
import {
  type ContainerRuntime,
  type ExecCommand,
  commandFailureFrom,
  isCommandFailure,
  readExecLog,
} from '@ts-container/runtime';
import { execa } from 'execa';
import type { ContainerService } from './containers.js';
import { DEFAULT_DETACH_KEYS, DetachKeyScanner, parseDetachKeys } from './detach-keys.js';
import { conflict, errorKind, invalidParameter, notFound } from './errors.js';
import { resolveUser } from './user.js';

export interface ExecServiceDeps {
  containers: Pick<ContainerService, 'get' | 'rootfsDir'>;
  runtime: Pick<ContainerRuntime, 'execCommand'>;
  logger: Logger;
}

export interface ExecConfig {
  Cmd: string[];
  Env?: string[] | null;
  User?: string;
  WorkingDir?: string;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Privileged?: boolean;
  /** The sequence that detaches a client from a tty exec's input (Docker's format); ctrl-p,ctrl-q when unset. */
  DetachKeys?: string;
}

export interface ExecSession {
  ID: string;
  ContainerID: string;
  config: ExecConfig;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  process?: { kill(signal?: NodeJS.Signals | number): boolean };
}

export interface ExecIO {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** The caller has gone (its connection closed): the process is killed, as Docker does. */
  signal?: AbortSignal;
  /**
   * Called when the client types the detach keys into a tty exec's input: its input stops there;
   * the process runs on, and `start` still resolves at its exit.
   */
  onDetach?: () => void;
}

/**
 * `docker exec`: a new process in a running container's namespaces and cgroup, run with
 * `runc exec` as a child of the daemon (exec sessions, like Docker's, end with their caller).
 */
export class ExecService {
  private readonly sessions = new Map<string, ExecSession>();

  constructor(private readonly deps: ExecServiceDeps) {}

  create(ref: string, config: ExecConfig): string {
    const c = this.deps.containers.get(ref);
    if (!c.State.Running) throw conflict(`container ${c.Id} is not running`);
    if (c.State.Paused) throw conflict(`Container ${c.Id} is paused, unpause the container before exec`);
    if (!Array.isArray(config.Cmd) || config.Cmd.length === 0)
      throw invalidParameter('No exec command specified');
    if (config.DetachKeys) parseDetachKeys(config.DetachKeys);
    const id = randomBytes(32).toString('hex');
    this.sessions.set(id, { ID: id, ContainerID: c.Id, config, Running: false, ExitCode: null, Pid: 0 });
    return id;
  }

  /** Forgets a finished session (health probes do, so that they do not pile up). */
  remove(id: string): void {
    if (!this.sessions.get(id)?.Running) this.sessions.delete(id);
  }

  get(id: string): ExecSession {
    const s = this.sessions.get(id);
    if (!s) throw notFound(`No such exec instance: ${id}`);
    return s;
  }

  /** Throws what `start` would refuse with, so that a caller can answer before it streams. */
  assertStartable(id: string): ExecSession {
    const s = this.get(id);
    if (s.Running || s.ExitCode !== null) throw conflict(`Error: Exec command ${id} has already run`);
    const c = this.deps.containers.get(s.ContainerID);
    if (!c.State.Running) throw conflict(`container ${c.Id} is not running`);
    return s;
  }

  /** `Detach: true`: starts the process with no client; what goes wrong later is logged. */
  startDetached(id: string): void {
    this.assertStartable(id);
    this.start(id, {}).catch((err: unknown) =>
      this.deps.logger.warn(`exec ${id}: ${err instanceof Error ? err.message : String(err)}`),
    );
  }

  /**
   * Starts the process; output goes to `stdout`/`stderr`, `stdin` (when attached) to the
   * process. Resolves with the exit code. A process that cannot start (no such user, command)
   * gets Docker's exit code (126, 127) and its message on stdout, as Docker writes it.
   */
  async start(id: string, io: ExecIO): Promise<number> {
    const s = this.assertStartable(id);
    const c = this.deps.containers.get(s.ContainerID);
    // Running from here on: a detached start returns before the process is spawned, and an
    // inspect right after it must not see an exec that never started.
    s.Running = true;
    const tty = s.config.Tty ?? false;
    let command: ExecCommand;
    try {
      const user = await resolveUser(
        this.deps.containers.rootfsDir(c.Id),
        s.config.User || c.Config.User,
      ).catch((err: unknown) => {
        // Docker: the runtime cannot start the process; exit code 126.
        if (errorKind(err) !== 'invalid-parameter') throw err;
        return err as Error;
      });
      if (user instanceof Error) {
        io.stdout?.write(
          `OCI runtime exec failed: exec failed: unable to start container process: ${user.message}: unknown\r\n`,
        );
        s.ExitCode = 126;
        s.Running = false;
        return 126;
      }
      const env = new Map<string, string>();
      for (const e of [...(c.Config.Env ?? []), ...(s.config.Env ?? [])]) env.set(e.split('=')[0]!, e);
      command = await this.deps.runtime.execCommand(c.Id, id.slice(0, 16), {
        args: s.config.Cmd,
        env: [...env.values()],
        cwd: s.config.WorkingDir || c.Config.WorkingDir || '/',
        user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
        terminal: tty,
        privileged: s.config.Privileged ?? false,
      });
    } catch (err) {
      s.Running = false;
      throw err;
    }
    const withStdin = Boolean(s.config.AttachStdin && io.stdin);
    // A terminal exec's command is `script(1)` around the OCI runtime (see ExecCommand).
    const child = execa(command.file, command.args, {
      // runc copies a tty exec's pty to its own stdio; an ignored stdin would be an instant EOF.
      stdin: withStdin || tty ? 'pipe' : 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      reject: false,
      buffer: false,
    });
    const pid = waitForPid(command.pidFile, child).then((p) => {
      s.Pid = p;
      return p;
    });
    // The process itself (the runtime and `script` end with it); the runtime when the process
    // never came to be.
    const kill = (signal: NodeJS.Signals | number = 'SIGKILL') => {
      void pid.then((p) => {
        if (p > 0) killPid(p, signal);
        else child.kill(signal);
      });
      return true;
    };
    s.process = { kill };
    const onAbort = () => kill('SIGKILL');
    if (io.signal?.aborted) onAbort();
    else io.signal?.addEventListener('abort', onAbort, { once: true });
    if (withStdin && child.stdin) {
      let input = io.stdin!;
      // Docker reads the detach keys from a tty exec's input only.
      if (tty) {
        const scanner = new DetachKeyScanner(parseDetachKeys(s.config.DetachKeys || DEFAULT_DETACH_KEYS));
        scanner.once('detach', () => {
          io.stdin!.unpipe(scanner);
          io.stdin!.resume();
          io.onDetach?.();
        });
        input = io.stdin!.pipe(scanner);
      }
      input.pipe(child.stdin);
    }
    child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
      // The process closing its input early (EPIPE) is its business.
      if (err.code !== 'EPIPE') this.deps.logger.warn(`exec ${id} stdin: ${err.message}`);
    });
    if (io.stdout) child.stdout?.pipe(io.stdout, { end: false });
    else child.stdout?.resume();
    // The OCI runtime's own complaints (command not found) arrive on stderr: keep them for the exit code.
    let runtimeError = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      if (isCommandFailure(text)) {
        runtimeError += text;
        return;
      }
      if (io.stderr) io.stderr.write(chunk);
    });
    let result: Awaited<typeof child>;
    try {
      result = await child;
    } finally {
      io.signal?.removeEventListener('abort', onAbort);
    }
    const log = readExecLog(await readFile(command.logFile).catch(() => Buffer.alloc(0)));
    const failure = log.messages.find((m) => isCommandFailure(m.msg));
    if (failure) runtimeError ||= failure.msg;
    // crun's relay can lose the race with the exit of a terminal's process: what it had not
    // relayed yet is in its log, and belongs after the rest of the output.
    else if (tty && log.output.length > 0) io.stdout?.write(log.output);
    let code = result.exitCode ?? (result.signal ? 128 + (signalNumber(result.signal) ?? 9) : 255);
    if (runtimeError) {
      // Docker: 127 for a command that does not exist, 126 for one that cannot be executed.
      const failure = commandFailureFrom(runtimeError);
      code = failure.exitCode === 125 ? 126 : failure.exitCode;
      io.stderr?.write(`OCI runtime exec failed: ${failure.message}: unknown\r\n`);
    }
    // Both at once: an inspect in between would see a finished exec without its exit code.
    s.ExitCode = code;
    s.Running = false;
    await command.remove();
    return code;
  }
}

function killPid(pid: number, signal: NodeJS.Signals | number): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    // Already gone: nothing to kill.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function waitForPid(pidFile: string, child: { exitCode: number | null }): Promise<number> {
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
    if (pid > 0) return pid;
    await new Promise((r) => setTimeout(r, 20));
  }
  return 0;
}

function signalNumber(name: string): number | undefined {
  return (osConstants.signals as Record<string, number>)[name];
}

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { PassThrough, type Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { type ExecCommand, commandFailureFrom, isCommandFailure, readExecLog } from '@ts-container/runtime';
import { execa } from 'execa';
import type { ContainerRecord } from './container-store.js';
import type { Engine } from './engine.js';
import { conflict, errorKind, invalidParameter, notFound } from './errors.js';
import { resolveUser } from './user.js';

/** Docker's default detach sequence, ctrl-p ctrl-q. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** Parses Docker's `--detach-keys` format (`ctrl-p,ctrl-q`, `a`, `ctrl-@`) into bytes. */
export function parseDetachKeys(spec: string): Buffer {
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim();
    if (k.length === 1) bytes.push(k.charCodeAt(0));
    else if (/^ctrl-[a-z@[\\\]^_]$/i.test(k)) {
      const c = k.slice(5).toLowerCase();
      bytes.push(c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : c.toUpperCase().charCodeAt(0) - 64);
    } else throw invalidParameter(`Invalid detach keys (${spec}) provided`);
  }
  return Buffer.from(bytes);
}

/**
 * Passes an attached client's input through, except the detach sequence: when the client
 * types it, emits `detach` and stops (what came before the sequence is delivered, the
 * sequence itself is not), as Docker's attach does.
 */
export class DetachKeyScanner extends Transform {
  private matched = 0;
  detached = false;

  constructor(private readonly keys: Buffer) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.detached || this.keys.length === 0) {
      if (!this.detached) this.push(chunk);
      cb();
      return;
    }
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) {
          this.detached = true;
          if (out.length) this.push(Buffer.from(out));
          this.emit('detach');
          cb();
          return;
        }
        continue;
      }
      // A partial sequence that did not complete is ordinary input.
      if (this.matched > 0) out.push(...this.keys.subarray(0, this.matched));
      this.matched = byte === this.keys[0] ? 1 : 0;
      if (this.matched === 0) out.push(byte);
    }
    if (out.length) this.push(Buffer.from(out));
    cb();
  }
}

/**
 * One stdin per running container: attached clients write into it; it is connected to the
 * container's stdin (conmon's attach socket) for as long as the container runs. A client that
 * ends its input closes the container's stdin when the container was created with StdinOnce
 * (`docker run -i`); a client that detaches leaves it open for the next `attach`.
 */
export class StdinBroker {
  private readonly streams = new Map<string, PassThrough>();

  constructor(private readonly engine: Engine) {
    engine.containers.events.on('die', (r: ContainerRecord) => this.close(r.Id));
  }

  /**
   * Connects `input` to the container's stdin until `input` ends (resolves `ended`) or the
   * caller stops early with `detach()`. Waits for a created container to start.
   */
  async attach(ref: string, input: Readable): Promise<{ detach(): void; ended: Promise<void> }> {
    let c = this.engine.containers.get(ref);
    if (!c.Config.OpenStdin) {
      input.resume();
      return { detach() {}, ended: Promise.resolve() };
    }
    if (!c.State.Running) {
      await new Promise<void>((resolve) => {
        const onEvent = (r: ContainerRecord) => {
          if (r.Id !== c.Id) return;
          this.engine.containers.events.off('start', onEvent);
          this.engine.containers.events.off('destroy', onEvent);
          this.engine.containers.events.off('die', onEvent);
          resolve();
        };
        this.engine.containers.events.on('start', onEvent);
        this.engine.containers.events.on('destroy', onEvent);
        this.engine.containers.events.on('die', onEvent);
      });
      const found = this.engine.containerStore.find(c.Id);
      if (!found?.State.Running) {
        input.resume();
        return { detach() {}, ended: Promise.resolve() };
      }
      c = found;
    }
    const id = c.Id;
    const stdinOnce = c.Config.StdinOnce ?? false;
    const sink = this.open(id);
    let detached = false;
    const ended = new Promise<void>((resolve) => {
      const finish = () => {
        input.unpipe(sink);
        if (!detached && stdinOnce) this.close(id);
        resolve();
      };
      input.once('end', finish);
      input.once('error', finish);
      input.once('close', finish);
    });
    input.pipe(sink, { end: false });
    return {
      detach: () => {
        detached = true;
        input.unpipe(sink);
        input.resume();
      },
      ended,
    };
  }

  private open(id: string): PassThrough {
    let stream = this.streams.get(id);
    if (stream) return stream;
    stream = new PassThrough();
    this.streams.set(id, stream);
    const current = stream;
    this.engine.runtime
      .attachStdin(id, current)
      .catch((e: unknown) => this.engine.options.logger?.warn(`stdin of ${id}: ${String(e)}`))
      .finally(() => {
        if (this.streams.get(id) === current) this.streams.delete(id);
      });
    return stream;
  }

  /** Closes the container's stdin (EOF). */
  close(id: string): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    this.streams.delete(id);
    stream.end();
  }
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

  constructor(private readonly engine: Engine) {}

  create(ref: string, config: ExecConfig): string {
    const c = this.engine.containers.get(ref);
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
    const c = this.engine.containers.get(s.ContainerID);
    if (!c.State.Running) throw conflict(`container ${c.Id} is not running`);
    return s;
  }

  /** `Detach: true`: starts the process with no client; what goes wrong later is logged. */
  startDetached(id: string): void {
    this.assertStartable(id);
    this.start(id, {}).catch((err: unknown) =>
      this.engine.options.logger?.warn(`exec ${id}: ${err instanceof Error ? err.message : String(err)}`),
    );
  }

  /**
   * Starts the process; output goes to `stdout`/`stderr`, `stdin` (when attached) to the
   * process. Resolves with the exit code. A process that cannot start (no such user, command)
   * gets Docker's exit code (126, 127) and its message on stdout, as Docker writes it.
   */
  async start(id: string, io: ExecIO): Promise<number> {
    const s = this.assertStartable(id);
    const c = this.engine.containers.get(s.ContainerID);
    // Running from here on: a detached start returns before the process is spawned, and an
    // inspect right after it must not see an exec that never started.
    s.Running = true;
    const tty = s.config.Tty ?? false;
    let command: ExecCommand;
    try {
      const user = await resolveUser(
        this.engine.containers.rootfsDir(c.Id),
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
      command = await this.engine.runtime.execCommand(c.Id, id.slice(0, 16), {
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
    // A tty exec without a console socket needs a terminal of its own to relay: `script` gives
    // it one (the OCI runtime puts it in raw mode, so the container's output passes unchanged).
    const [file, argv] = tty
      ? ['script', ['-q', '-e', '-c', [command.file, ...command.args].map(shellQuote).join(' '), '/dev/null']]
      : [command.file, command.args];
    const child = execa(file, argv as string[], {
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
      if (err.code !== 'EPIPE') this.engine.options.logger?.warn(`exec ${id} stdin: ${err.message}`);
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

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
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

/** `docker pause`: freezes every process of the container (cgroup freezer, via the OCI runtime). */
export async function pauseContainer(engine: Engine, ref: string): Promise<void> {
  const c = engine.containers.get(ref);
  if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
  if (c.State.Paused) throw conflict(`Container ${c.Id} is already paused`);
  await engine.runtime.pause(c.Id);
  await engine.containerStore.update(c.Id, (r) => {
    r.State.Paused = true;
    r.State.Status = 'paused';
  });
}

export async function unpauseContainer(engine: Engine, ref: string): Promise<void> {
  const c = engine.containers.get(ref);
  if (!c.State.Paused) throw conflict(`Container ${c.Id} is not paused`);
  await engine.runtime.resume(c.Id);
  await engine.containerStore.update(c.Id, (r) => {
    r.State.Paused = false;
    r.State.Status = 'running';
  });
}

/** `docker top`: the host's `ps` limited to the container's processes, as Docker does it. */
export async function topContainer(
  engine: Engine,
  ref: string,
  psArgs = '-ef',
): Promise<{ Titles: string[]; Processes: string[][] }> {
  const c = engine.containers.get(ref);
  if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
  const pids = new Set((await engine.runtime.pids(c.Id)).map(String));
  const r = await execa('ps', psArgs.split(/\s+/).filter(Boolean), { reject: false });
  if (r.exitCode !== 0) throw invalidParameter(`Error running ps: ${r.stderr.trim()}`);
  const [header = '', ...lines] = r.stdout.split('\n');
  const titles = header.trim().split(/\s+/);
  const pidColumn = titles.indexOf('PID');
  if (pidColumn < 0) throw invalidParameter(`Couldn't find PID field in ps output`);
  const processes: string[][] = [];
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    if (!pids.has(fields[pidColumn] ?? '')) continue;
    // The last column (the command) keeps its spaces.
    processes.push([...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')]);
  }
  return { Titles: titles, Processes: processes };
}

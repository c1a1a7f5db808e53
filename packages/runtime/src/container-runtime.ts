import { watch } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { attachStdin, reopenLog, resizeTerminal } from './attach.js';
import { readLogRecords } from './log-file.js';
import { launchMonitor, readExitCode, wasOomKilled } from './monitor.js';
import { OciRuntime, type OciRuntimeName, resolveOciRuntime } from './oci-runtime.js';
import type { ContainerSpecInput } from './spec-input.js';
import { type OciSpec, generateSpec } from './spec.js';

export interface ContainerRuntimeOptions {
  /** Where bundles, exit files and the OCI runtime's state live (an exec root such as /run/tsctr). */
  stateDir: string;
  runtime?: OciRuntimeName | string;
}

export interface CreateOptions {
  name?: string;
  /** Defaults to `<bundle>/container.log`. */
  logPath?: string;
  stdin?: boolean;
  logSizeMax?: number;
}

export interface ExitStatus {
  exitCode: number;
  oomKilled: boolean;
}

/**
 * Turns a root filesystem and a configuration into a supervised, isolated process: writes the
 * OCI bundle, starts it under a conmon monitor and the OCI runtime, and reports its exit.
 */
export class ContainerRuntime {
  private constructor(
    readonly stateDir: string,
    readonly oci: OciRuntime,
  ) {}

  static async open(options: ContainerRuntimeOptions): Promise<ContainerRuntime> {
    const info = await resolveOciRuntime(options.runtime);
    const root = join(options.stateDir, info.name);
    await mkdir(root, { recursive: true });
    await mkdir(join(options.stateDir, 'exits'), { recursive: true });
    return new ContainerRuntime(options.stateDir, new OciRuntime(info, root));
  }

  bundleDir(id: string): string {
    return join(this.stateDir, 'bundles', id);
  }

  get exitDir(): string {
    return join(this.stateDir, 'exits');
  }

  persistDir(id: string): string {
    return join(this.bundleDir(id), 'persist');
  }

  /** Writes the bundle and creates the container (its process waits until `start`). */
  async create(
    id: string,
    input: ContainerSpecInput,
    options: CreateOptions = {},
  ): Promise<{ pid: number; monitorPid: number; spec: OciSpec; logPath: string }> {
    const spec = generateSpec(input);
    const bundle = this.bundleDir(id);
    await rm(bundle, { recursive: true, force: true });
    await rm(join(this.exitDir, id), { force: true });
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    const logPath = options.logPath ?? join(bundle, 'container.log');
    const launched = await launchMonitor(this.oci, {
      id,
      name: options.name ?? id,
      bundle,
      logPath,
      exitDir: this.exitDir,
      persistDir: this.persistDir(id),
      terminal: spec.process.terminal,
      stdin: options.stdin ?? false,
      ...(options.logSizeMax !== undefined ? { logSizeMax: options.logSizeMax } : {}),
    });
    return { ...launched, spec, logPath };
  }

  async start(id: string): Promise<void> {
    await this.oci.start(id);
  }

  async exitStatus(id: string): Promise<ExitStatus | undefined> {
    const exitCode = await readExitCode(this.exitDir, id);
    if (exitCode === undefined) return undefined;
    return { exitCode, oomKilled: await wasOomKilled(this.persistDir(id)) };
  }

  /** Resolves when the container's process has exited (conmon has written its exit file). */
  async wait(id: string, signal?: AbortSignal): Promise<ExitStatus> {
    const done = await this.exitStatus(id);
    if (done) return done;
    return new Promise<ExitStatus>((resolve, reject) => {
      let settled = false;
      const finish = (err?: unknown, status?: ExitStatus) => {
        if (settled) return;
        settled = true;
        watcher.close();
        clearInterval(poll);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(status!);
      };
      const check = () => {
        this.exitStatus(id).then((s) => s && finish(undefined, s), finish);
      };
      const watcher = watch(this.exitDir, (_event, file) => {
        if (file === id) check();
      });
      // inotify can miss an event on some filesystems; a slow poll backs it up.
      const poll = setInterval(check, 1000);
      const onAbort = () => finish(signal?.reason ?? new Error('aborted'));
      signal?.addEventListener('abort', onAbort);
      check();
    });
  }

  /** Sends `input` to the container's stdin (created with `stdin: true`); its end is EOF. */
  async attachStdin(id: string, input: Readable): Promise<void> {
    await attachStdin(this.bundleDir(id), input);
  }

  /** Resizes the terminal of a container created with `terminal: true`. */
  async resize(id: string, rows: number, cols: number): Promise<void> {
    await resizeTerminal(this.bundleDir(id), rows, cols);
  }

  /** Makes conmon start a new log file at the log path (after the old one was rotated away). */
  async reopenLog(id: string): Promise<void> {
    await reopenLog(this.bundleDir(id));
  }

  async kill(id: string, signal: string | number = 'SIGTERM', all = false): Promise<void> {
    await this.oci.kill(id, signal, all);
  }

  /** Removes the container from the OCI runtime and its bundle (its log too, if kept there). */
  async delete(id: string): Promise<void> {
    await this.oci.delete(id, true);
    await rm(this.bundleDir(id), { recursive: true, force: true });
    await rm(join(this.exitDir, id), { force: true });
  }

  /**
   * Convenience for using the package alone: create, start, wait, collect output, delete.
   */
  async run(id: string, input: ContainerSpecInput): Promise<ExitStatus & { stdout: string; stderr: string }> {
    const { logPath } = await this.create(id, input);
    try {
      await this.start(id);
      const status = await this.wait(id);
      const { records } = await readLogRecords(logPath, 0);
      let stdout = '';
      let stderr = '';
      for (const r of records) {
        if (r.stream === 'stdout') stdout += r.text;
        else stderr += r.text;
      }
      return { ...status, stdout, stderr };
    } finally {
      await this.delete(id);
    }
  }
}

import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { attachStdin, reopenLog, resizeTerminal } from './attach.js';
import { RuntimeError } from './errors.js';
import { type ExitStatus, recordMonitorDeath, waitForExit } from './exit-watch.js';
import { readLogRecords } from './log-file.js';
import { launchMonitor, readExitCode, wasOomKilled } from './monitor.js';
import {
  type OciContainerState,
  OciRuntime,
  type OciRuntimeInfo,
  type OciRuntimeName,
  findOciRuntimes,
  probeOciRuntime,
  resolveOciRuntime,
} from './oci-runtime.js';
import type { ContainerSpecInput, Resources } from './spec-input.js';
import { type OciSpec, effectiveCapabilities, generateSpec, linuxResources } from './spec.js';

/** The bundle file naming the OCI runtime a container was created with. */
const RUNTIME_FILE = 'oci-runtime';

export interface ContainerRuntimeOptions {
  /** Where bundles, exit files and the OCI runtime's state live (an exec root such as /run/tsctr). */
  stateDir: string;
  /** The default OCI runtime (a name or a path); by default the first of crun, runc that works here. */
  runtime?: OciRuntimeName | string;
  /**
   * Check that an installed runtime can create a container here before offering it (about
   * 50 ms per runtime). `'default'` (the default) checks runtimes in order of preference (the
   * one asked for, crun, runc) until one works, and offers the rest unchecked; `'all'` checks
   * every one (what a daemon's `info` wants); `false` checks none.
   */
  probe?: boolean | 'default' | 'all';
  /** The conmon binary; by default `conmon` on the PATH (or in /usr/bin, /usr/sbin…). */
  conmonPath?: string;
}

/** An installed OCI runtime that cannot run containers on this machine, and why. */
export interface UnusableRuntime extends OciRuntimeInfo {
  reason: string;
}

export interface CreateOptions {
  name?: string;
  /** Defaults to `<bundle>/container.log`. */
  logPath?: string;
  stdin?: boolean;
  logSizeMax?: number;
  /** One of `runtimes` by name (Docker's `--runtime`); the default runtime otherwise. */
  runtime?: string;
}

/** A new process in a running container: `docker exec`'s settings. */
export interface ExecProcessOptions {
  args: string[];
  /** The whole environment (`KEY=value`), the container's included. */
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids?: number[] };
  terminal: boolean;
  /** Every capability, as `docker exec --privileged` gives. */
  privileged?: boolean;
}

/**
 * How to start an exec process: spawn `file` with `args`; its host PID appears in `pidFile`.
 * For a terminal exec, `file` is `script(1)` around the OCI runtime, giving it a terminal.
 */
export interface ExecCommand {
  file: string;
  args: string[];
  pidFile: string;
  /**
   * The OCI runtime's own log (JSON lines), kept apart from the process's terminal: crun, when it
   * relays a terminal itself, writes there what the process printed but it had not relayed
   * when the process exited (see `readExecLog`).
   */
  logFile: string;
  remove(): Promise<void>;
}

/**
 * Turns a root filesystem and a configuration into a supervised, isolated process: writes the
 * OCI bundle, starts it under a conmon monitor and the OCI runtime, and reports its exit.
 */
export class ContainerRuntime {
  /** Which runtime each container was created with (read back from its bundle after a restart). */
  private readonly runtimeOf = new Map<string, OciRuntime>();
  /**
   * Seccomp filters crun compiled, base64, by runtime and profile: compiling Docker's profile
   * costs crun 11-15 ms of every create, and most containers share one profile.
   */
  private readonly compiledSeccomp = new Map<string, string>();
  /** Containers whose conmon died, being killed and recorded (once, whoever waits). */
  private readonly monitorDeaths = new Map<string, Promise<ExitStatus>>();

  private constructor(
    readonly stateDir: string,
    /** The default runtime. */
    readonly oci: OciRuntime,
    /** Every runtime that works here, by name (the default among them). */
    readonly runtimes: ReadonlyMap<string, OciRuntime>,
    /** Installed runtimes that failed the probe: offered to nobody, reported by `info`. */
    readonly unusable: readonly UnusableRuntime[],
    private readonly conmonPath?: string,
  ) {}

  static async open(options: ContainerRuntimeOptions): Promise<ContainerRuntime> {
    // Namespaces, cgroups and mounts need root: say so before any runtime says it its own way.
    if (process.getuid?.() !== 0)
      throw new RuntimeError(
        'unavailable',
        'creating containers needs root (CAP_SYS_ADMIN): run as root, e.g. with sudo',
      );
    await mkdir(join(options.stateDir, 'exits'), { recursive: true });
    const installed = await findOciRuntimes(options.runtime);
    // Asked for by name but missing: resolveOciRuntime throws the error naming the package.
    if (installed.length === 0 || (options.runtime && !installed.some((r) => r.name === options.runtime)))
      await resolveOciRuntime(options.runtime);
    const asked = (r: OciRuntimeInfo) => r.name === options.runtime || r.path === options.runtime;
    const byPreference = [...installed.filter(asked), ...installed.filter((r) => !asked(r))];
    const probe = options.probe ?? 'default';
    const usable: OciRuntimeInfo[] = [];
    const unusable: UnusableRuntime[] = [];
    const scratch = join(options.stateDir, 'probe');
    for (const info of byPreference) {
      const check = probe === 'all' || probe === true || (probe === 'default' && usable.length === 0);
      const reason = check ? await probeOciRuntime(info, scratch) : undefined;
      if (reason === undefined) usable.push(info);
      else unusable.push({ ...info, reason });
    }
    await rm(scratch, { recursive: true, force: true });
    const preferred = usable.find(asked) ?? usable[0];
    if (!preferred) {
      const why = unusable.map((r) => `${r.name}: ${r.reason}`).join('; ');
      throw new RuntimeError('unavailable', `no OCI runtime can run containers on this machine (${why})`);
    }
    const runtimes = new Map<string, OciRuntime>();
    for (const info of [preferred, ...usable.filter((r) => r !== preferred)]) {
      const root = join(options.stateDir, info.name);
      await mkdir(root, { recursive: true });
      runtimes.set(info.name, new OciRuntime(info, root));
    }
    return new ContainerRuntime(
      options.stateDir,
      runtimes.get(preferred.name)!,
      runtimes,
      unusable,
      options.conmonPath,
    );
  }

  /** The runtime a container was created with. */
  async ociFor(id: string): Promise<OciRuntime> {
    const known = this.runtimeOf.get(id);
    if (known) return known;
    const name = await readFile(join(this.bundleDir(id), RUNTIME_FILE), 'utf8').catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return this.oci.info.name; // bundles from before runtimes were recorded
        throw err;
      },
    );
    const oci = this.runtimes.get(name.trim()) ?? this.oci;
    this.runtimeOf.set(id, oci);
    return oci;
  }

  /** Picks a runtime by name for a new container, with Docker's error for one it does not know. */
  runtimeNamed(name: string | undefined): OciRuntime {
    if (name === undefined || name === '') return this.oci;
    const oci = this.runtimes.get(name);
    if (oci) return oci;
    const broken = this.unusable.find((r) => r.name === name);
    if (broken)
      throw new RuntimeError(
        'invalid-parameter',
        `runtime ${name} cannot run containers on this machine: ${broken.reason}`,
      );
    throw new RuntimeError('invalid-parameter', `unknown or invalid runtime name: ${name}`);
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
    const oci = this.runtimeNamed(options.runtime);
    const spec = generateSpec(input);
    // The runtime's own complaint about a missing rootfs comes in Docker's "shim task" wording.
    await access(spec.root.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      throw new RuntimeError('invalid-parameter', `rootfs ${spec.root.path} does not exist`, { cause: err });
    });
    const bundle = this.bundleDir(id);
    await rm(bundle, { recursive: true, force: true });
    await rm(join(this.exitDir, id), { force: true });
    await mkdir(bundle, { recursive: true });
    const seccomp = this.seccompFor(oci, spec);
    await writeFile(join(bundle, 'config.json'), JSON.stringify(seccomp.spec));
    await writeFile(join(bundle, RUNTIME_FILE), oci.info.name);
    this.runtimeOf.set(id, oci);
    const logPath = options.logPath ?? join(bundle, 'container.log');
    const launched = await launchMonitor(oci, {
      id,
      name: options.name ?? id,
      bundle,
      logPath,
      exitDir: this.exitDir,
      persistDir: this.persistDir(id),
      terminal: spec.process.terminal,
      stdin: options.stdin ?? false,
      ...(this.conmonPath !== undefined ? { conmonPath: this.conmonPath } : {}),
      ...(options.logSizeMax !== undefined ? { logSizeMax: options.logSizeMax } : {}),
    });
    if (seccomp.learn) {
      const compiled = await oci.compiledSeccomp(id);
      if (compiled) this.compiledSeccomp.set(seccomp.learn, compiled.toString('base64'));
    }
    return { ...launched, spec, logPath };
  }

  /**
   * The spec to write: for crun, a profile it compiled before goes as its compiled filter
   * (`run.oci.seccomp_bpf_data`), the same program `crun exec` loads; `learn` is the key under
   * which to keep what crun compiles for a profile not seen yet.
   */
  private seccompFor(oci: OciRuntime, spec: OciSpec): { spec: OciSpec; learn?: string } {
    const profile = spec.linux.seccomp;
    if (!oci.takesCompiledSeccomp || profile === undefined) return { spec };
    const key = createHash('sha256')
      .update(oci.info.path)
      .update('\0')
      .update(JSON.stringify(profile))
      .digest('hex');
    const compiled = this.compiledSeccomp.get(key);
    if (compiled === undefined) return { spec, learn: key };
    const { seccomp: _compiledInstead, ...linux } = spec.linux;
    return {
      spec: { ...spec, linux, annotations: { ...spec.annotations, 'run.oci.seccomp_bpf_data': compiled } },
    };
  }

  async start(id: string): Promise<void> {
    await (await this.ociFor(id)).start(id);
  }

  /** The OCI runtime's view of a container, or undefined when it does not know it. */
  async state(id: string): Promise<OciContainerState | undefined> {
    return (await this.ociFor(id)).state(id);
  }

  /** Freezes every process of the container (cgroup freezer). */
  async pause(id: string): Promise<void> {
    await (await this.ociFor(id)).pause(id);
  }

  async resume(id: string): Promise<void> {
    await (await this.ociFor(id)).resume(id);
  }

  /** Changes the cgroup limits of a running container (`docker update`). */
  async update(id: string, resources: Resources): Promise<void> {
    const oci = await this.ociFor(id);
    const file = join(this.bundleDir(id), 'update-resources.json');
    await writeFile(file, JSON.stringify(linuxResources(resources)));
    try {
      await oci.update(id, file);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Host PIDs of every process in the container. */
  async pids(id: string): Promise<number[]> {
    return (await this.ociFor(id)).pids(id);
  }

  /**
   * The command line that runs a new process in a running container (`docker exec`), for the
   * caller to spawn and wait on. The OCI runtime gets a process file: the container's own
   * process settings (capabilities, rlimits, no-new-privileges, AppArmor) with the command,
   * environment, directory, user and terminal replaced, which runc and crun read alike (their
   * flags differ: crun has no `--additional-gids`). `remove()` deletes the file and the PID file.
   */
  async execCommand(id: string, execId: string, options: ExecProcessOptions): Promise<ExecCommand> {
    const oci = await this.ociFor(id);
    const bundle = this.bundleDir(id);
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as OciSpec;
    const caps = options.privileged
      ? effectiveCapabilities({ privileged: true, capAdd: [], capDrop: [] })
      : undefined;
    const process = {
      ...config.process,
      terminal: options.terminal,
      args: options.args,
      env: options.env,
      cwd: options.cwd,
      user: {
        uid: options.user.uid,
        gid: options.user.gid,
        additionalGids: options.user.additionalGids ?? [],
      },
      ...(caps ? { capabilities: { bounding: caps, effective: caps, permitted: caps } } : {}),
    };
    const processFile = join(bundle, `exec-${execId}.json`);
    const pidFile = join(bundle, `exec-${execId}.pid`);
    const logFile = join(bundle, `exec-${execId}.log`);
    await writeFile(processFile, JSON.stringify(process));
    // Without --log the runtime logs to its stderr, which for a terminal exec is the terminal
    // the caller relays: its messages (colored, timestamped) would reach the client as output.
    const runtimeArgs = [
      ...oci.globalArgs(),
      '--log',
      logFile,
      '--log-format',
      'json',
      'exec',
      '--pid-file',
      pidFile,
      '--process',
      processFile,
      id,
    ];
    // A terminal exec without a console socket needs a terminal of its own to relay: `script`
    // gives it one (the OCI runtime puts it in raw mode, so the process's output passes unchanged).
    const [file, args] = options.terminal
      ? ['script', ['-q', '-e', '-c', [oci.info.path, ...runtimeArgs].map(shellQuote).join(' '), '/dev/null']]
      : [oci.info.path, runtimeArgs];
    return {
      file,
      args,
      pidFile,
      logFile,
      remove: async () => {
        await rm(processFile, { force: true });
        await rm(pidFile, { force: true });
        await rm(logFile, { force: true });
      },
    };
  }

  async exitStatus(id: string): Promise<ExitStatus | undefined> {
    const exitCode = await readExitCode(this.exitDir, id);
    if (exitCode === undefined) return undefined;
    return { exitCode, oomKilled: await wasOomKilled(this.persistDir(id)) };
  }

  /**
   * Resolves when the container's process has exited: conmon has written its exit file, or
   * conmon died (then what is left of the container is killed: see {@link waitForExit}).
   */
  wait(id: string, signal?: AbortSignal): Promise<ExitStatus> {
    const watched = {
      id,
      exitDir: this.exitDir,
      bundle: this.bundleDir(id),
      status: () => this.exitStatus(id),
    };
    const monitorDied = () => {
      let death = this.monitorDeaths.get(id);
      if (!death) {
        death = recordMonitorDeath({ ...watched, killAll: () => this.kill(id, 'SIGKILL', true) }).finally(
          () => this.monitorDeaths.delete(id),
        );
        this.monitorDeaths.set(id, death);
      }
      return death;
    };
    return waitForExit({ ...watched, monitorDied }, signal);
  }

  /**
   * Sends `input` to the container's stdin (created with `stdin: true`); its end is EOF.
   * `onConnected` is called once conmon has taken the connection.
   */
  async attachStdin(id: string, input: Readable, options: { onConnected?: () => void } = {}): Promise<void> {
    await attachStdin(this.bundleDir(id), input, options);
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
    await (await this.ociFor(id)).kill(id, signal, all);
  }

  /** Removes the container from the OCI runtime and its bundle (its log too, if kept there). */
  async delete(id: string): Promise<void> {
    // Without its bundle the container was deleted already (the bundle goes last) or never
    // created: no need to ask the OCI runtime again (a process start each time).
    const bundleExists = await access(this.bundleDir(id)).then(
      () => true,
      () => false,
    );
    if (bundleExists) await (await this.ociFor(id)).delete(id, true);
    this.runtimeOf.delete(id);
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

/** One argument for `sh -c`: as is when it is plain, else in single quotes. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

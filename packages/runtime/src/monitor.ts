import { spawn } from 'node:child_process';
import { constants, access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ContainerStartError, RuntimeError, commandFailureFrom } from './errors.js';
import { type OciRuntime, findExecutable } from './oci-runtime.js';

export interface MonitorLaunchOptions {
  id: string;
  name: string;
  bundle: string;
  /** conmon writes the container's output here (k8s-file format). */
  logPath: string;
  /** conmon writes `<exitDir>/<id>` holding the exit code when the container ends. */
  exitDir: string;
  /** conmon writes `exit` and `oom` files here. */
  persistDir: string;
  terminal?: boolean;
  stdin?: boolean;
  /** The conmon binary; by default `conmon` found on the PATH. */
  conmonPath?: string;
  /** Bytes; conmon truncates the log past this (rotation is done by the log reader). */
  logSizeMax?: number;
}

export interface MonitorPaths {
  pidFile: string;
  conmonPidFile: string;
  attachSocket: string;
  ctlFifo: string;
  winszFifo: string;
}

export function monitorPaths(bundle: string): MonitorPaths {
  return {
    pidFile: join(bundle, 'pidfile'),
    conmonPidFile: join(bundle, 'conmon.pid'),
    // --full-attach puts the attach socket in the bundle, whatever its path length.
    attachSocket: join(bundle, 'attach'),
    ctlFifo: join(bundle, 'ctl'),
    winszFifo: join(bundle, 'winsz'),
  };
}

/**
 * Starts a container under conmon, the per-container monitor Podman and CRI-O use. conmon
 * runs `<runtime> create`, then holds the container's stdio (and pty), writes its log and,
 * when it ends, its exit code, whether or not our daemon is still alive. Resolves with the
 * container's host PID once it is created (not yet started).
 */
export async function launchMonitor(
  runtime: OciRuntime,
  options: MonitorLaunchOptions,
): Promise<{ pid: number; monitorPid: number }> {
  const conmon = options.conmonPath ?? (await findExecutable('conmon'));
  if (!conmon)
    throw new RuntimeError('unavailable', 'conmon not found: install it with "apt-get install conmon"');
  await access(conmon, constants.X_OK).catch((err: NodeJS.ErrnoException) => {
    throw new RuntimeError('unavailable', `conmon ${conmon} cannot be run: ${err.code ?? err.message}`, {
      cause: err,
    });
  });
  await mkdir(options.exitDir, { recursive: true });
  await mkdir(options.persistDir, { recursive: true });
  const paths = monitorPaths(options.bundle);
  const args = [
    '--api-version',
    '1',
    '-c',
    options.id,
    '-u',
    options.id,
    '-n',
    options.name,
    '-r',
    runtime.info.path,
    '-b',
    options.bundle,
    '-p',
    paths.pidFile,
    '--conmon-pidfile',
    paths.conmonPidFile,
    '--exit-dir',
    options.exitDir,
    '--persist-dir',
    options.persistDir,
    '--full-attach',
    '--socket-dir-path',
    options.bundle,
    '-l',
    `k8s-file:${options.logPath}`,
    '--log-level',
    'error',
    ...runtime.globalArgs().flatMap((a) => ['--runtime-arg', a]),
  ];
  if (options.terminal) args.push('-t');
  if (options.stdin) args.push('-i');
  if (options.logSizeMax !== undefined) args.push('--log-size-max', String(options.logSizeMax));

  // conmon reports on the pipe named by _OCI_SYNCPIPE: {"data": pid} or {"data": -1, "message": …}.
  const child = spawn(conmon, args, {
    // conmon writes files (an `oom` file, for one) in its working directory: the bundle, not the caller's.
    cwd: options.bundle,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: monitorEnvironment(process.env),
    detached: true,
  });
  const syncPipe = child.stdio[3] as NodeJS.ReadableStream;
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  let syncText = '';
  const report = await new Promise<{ data: number; message?: string }>((resolve, reject) => {
    syncPipe.on('data', (chunk: Buffer) => {
      syncText += chunk.toString();
      const line = syncText.split('\n').find((l) => l.trim().startsWith('{'));
      if (line) {
        try {
          resolve(JSON.parse(line) as { data: number; message?: string });
        } catch {
          // an incomplete line: wait for the rest
        }
      }
    });
    syncPipe.on('end', () =>
      reject(new RuntimeError('system', `conmon exited without reporting: ${stderr.trim() || syncText}`)),
    );
    child.on('error', reject);
  });
  child.unref();
  syncPipe.removeAllListeners();
  (syncPipe as unknown as { destroy(): void }).destroy();
  if (report.data < 0) throw startErrorFrom(report.message ?? stderr);
  const monitorPid = Number.parseInt(await readFile(paths.conmonPidFile, 'utf8').catch(() => '0'), 10);
  return { pid: report.data, monitorPid };
}

/** The only variables of the daemon's environment a monitor and the OCI runtime it runs keep. */
const MONITOR_ENV_KEYS = ['PATH', 'HOME', 'TMPDIR', 'XDG_RUNTIME_DIR'] as const;

/**
 * conmon's environment, which the OCI runtime it runs inherits: the daemon's search path and little
 * else (conmon runs the runtime by its absolute path).
 * The daemon's own environment (proxy credentials, tokens, a systemd NOTIFY_SOCKET) is none of a
 * container monitor's business. The locale is always C.UTF-8: in the plain C locale glib converts
 * conmon's arguments through iconv, which cost each conmon 0.43 MiB more RSS (2,507 against
 * 2,070 KiB, 10 monitors each). `_OCI_SYNCPIPE` names the pipe conmon reports the container's PID on.
 */
function monitorEnvironment(daemonEnv: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of MONITOR_ENV_KEYS) {
    const value = daemonEnv[key];
    if (value !== undefined) env[key] = value;
  }
  env.LANG = 'C.UTF-8';
  env._OCI_SYNCPIPE = '3';
  return env;
}

/** Maps an OCI runtime failure to Docker's message and `docker run` exit code. */
export function startErrorFrom(runtimeOutput: string): ContainerStartError {
  const failure = commandFailureFrom(runtimeOutput);
  const text = `failed to create task for container: failed to create shim task: OCI runtime create failed: ${failure.message}: unknown`;
  return new ContainerStartError(text, failure.exitCode);
}

/** The exit code conmon recorded, or undefined while the container still runs. */
export async function readExitCode(exitDir: string, id: string): Promise<number | undefined> {
  const raw = await readFile(join(exitDir, id), 'utf8').catch(() => undefined);
  if (raw === undefined || raw.trim() === '') return undefined;
  return Number.parseInt(raw.trim(), 10);
}

/** True when conmon saw the kernel OOM-kill the container. */
export async function wasOomKilled(persistDir: string): Promise<boolean> {
  return (await readFile(join(persistDir, 'oom'), 'utf8').catch(() => undefined)) !== undefined;
}

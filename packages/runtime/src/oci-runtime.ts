import { constants, access, mkdir, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { RuntimeError } from './errors.js';

export type OciRuntimeName = 'runc' | 'crun';

export interface OciRuntimeInfo {
  name: OciRuntimeName;
  path: string;
}

export interface OciContainerState {
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped' | 'paused';
  pid: number;
  bundle: string;
}

export async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '')
    .split(delimiter)
    .concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/bin', '/usr/local/sbin']);
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory; keep looking
    }
  }
  return undefined;
}

/**
 * Picks the OCI runtime: the one asked for, else crun, else runc (crun first: it creates, starts
 * and deletes a container in about half runc's time).
 */
export async function resolveOciRuntime(preferred?: OciRuntimeName | string): Promise<OciRuntimeInfo> {
  const candidates: OciRuntimeName[] =
    preferred === 'crun' ? ['crun'] : preferred === 'runc' ? ['runc'] : ['crun', 'runc'];
  if (preferred?.includes('/')) {
    const name: OciRuntimeName = preferred.endsWith('crun') ? 'crun' : 'runc';
    await access(preferred, constants.X_OK).catch((err: NodeJS.ErrnoException) => {
      throw new RuntimeError(
        'unavailable',
        `OCI runtime ${preferred} cannot be run: ${err.code ?? err.message}`,
        {
          cause: err,
        },
      );
    });
    return { name, path: preferred };
  }
  for (const name of candidates) {
    const path = await findExecutable(name);
    if (path) return { name, path };
  }
  throw new RuntimeError(
    'unavailable',
    `no OCI runtime found (looked for ${candidates.join(', ')}): install one with "apt-get install runc" (or crun)`,
  );
}

/**
 * Finds the OCI runtimes installed here: the one asked for (a name or a path) or both crun
 * and runc, in that order.
 */
export async function findOciRuntimes(preferred?: OciRuntimeName | string): Promise<OciRuntimeInfo[]> {
  if (preferred?.includes('/')) return [await resolveOciRuntime(preferred)];
  const found: OciRuntimeInfo[] = [];
  for (const name of ['crun', 'runc'] as const) {
    const path = await findExecutable(name);
    if (path) found.push({ name, path });
  }
  return found;
}

/**
 * Whether a runtime can create containers on this machine: creates (never starts) a container
 * from an empty bundle with a cgroup, then deletes it. crun 1.8, for one, refuses cgroup v1
 * hybrid layouts at this step. Resolves to the runtime's complaint, or undefined when it works.
 */
export async function probeOciRuntime(info: OciRuntimeInfo, scratchDir: string): Promise<string | undefined> {
  const id = `tsctr-probe-${process.pid}-${info.name}-${Math.random().toString(16).slice(2, 10)}`;
  const logFile = join(scratchDir, `${id}.log`);
  const bundle = join(scratchDir, id);
  const root = join(scratchDir, `${id}-state`);
  await mkdir(join(bundle, 'rootfs', 'proc'), { recursive: true });
  // crun opens the rootfs' /dev at create, runc does not mind its absence.
  await mkdir(join(bundle, 'rootfs', 'dev'), { recursive: true });
  // runc checks at create that the command exists; it never runs.
  await writeFile(join(bundle, 'rootfs', 'probe'), '', { mode: 0o755 });
  const spec = {
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/probe'], cwd: '/' },
    root: { path: 'rootfs', readonly: false },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }],
      cgroupsPath: `/tsctr-probe/${id}`,
      resources: { pids: { limit: 10 } },
    },
  };
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  try {
    // The created container's init inherits stdio: pipes would never close, so errors go to --log.
    const created = await execa(
      info.path,
      ['--root', root, '--log', logFile, 'create', '--bundle', bundle, id],
      {
        reject: false,
        stdio: 'ignore',
        timeout: 10_000,
      },
    );
    await execa(info.path, ['--root', root, 'delete', '--force', id], { reject: false, stdio: 'ignore' });
    if (created.exitCode === 0) return undefined;
    const log = await readFile(logFile, 'utf8').catch(() => '');
    const reason = lastLogMessage(log) ?? `${info.name} create exited with status ${created.exitCode}`;
    return /hybrid mode not supported/.test(reason) ? `${reason} (${await hybridHint()})` : reason;
  } finally {
    await rm(bundle, { recursive: true, force: true });
    await rm(root, { recursive: true, force: true });
    await rm(logFile, { force: true });
    await removeProbeCgroups();
  }
}

/**
 * What keeps crun from a hybrid host: it wants the cgroup v2 hierarchy free of controllers, and
 * a controller that no v1 hierarchy mounts (often hugetlb) stays there.
 */
async function hybridHint(): Promise<string> {
  const controllers = (await readFile('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').catch(() => ''))
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  if (controllers.length === 0) return 'the cgroup v2 hierarchy must hold no controllers';
  const mounts = controllers
    .map((c) => `mkdir /sys/fs/cgroup/${c} && mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}`)
    .join('; ');
  return `the cgroup v2 hierarchy holds ${controllers.join(', ')}; mounting it as cgroup v1 (${mounts}) lets crun run`;
}

/** The (empty) parent cgroup the probes were created under, in every hierarchy. */
async function removeProbeCgroups(): Promise<void> {
  const roots = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  for (const dir of ['', ...roots].map((r) => join('/sys/fs/cgroup', r, 'tsctr-probe'))) {
    // rmdir, not rm -r: a cgroup directory goes with rmdir once it has no processes.
    await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR' && err.code !== 'EBUSY') throw err;
    });
  }
}

/** The last message of a runtime's `--log` file (runc writes logfmt lines, crun plain text). */
function lastLogMessage(log: string): string | undefined {
  const line = log.trim().split('\n').at(-1)?.trim();
  if (!line) return undefined;
  const logfmt = /msg="((?:[^"\\]|\\.)*)"/.exec(line);
  if (logfmt) return logfmt[1]!.replace(/\\(.)/g, '$1');
  try {
    const json = JSON.parse(line) as { msg?: string };
    if (typeof json.msg === 'string') return json.msg;
  } catch {
    // not JSON: a plain text line, as crun writes
  }
  return line;
}

/** Drives an OCI runtime binary with its own state root. */
export class OciRuntime {
  constructor(
    readonly info: OciRuntimeInfo,
    /** The runtime's `--root` state directory, under the engine's exec root. */
    readonly stateRoot: string,
  ) {}

  /** Global arguments that go before every subcommand. */
  globalArgs(): string[] {
    return ['--root', this.stateRoot];
  }

  private async run(args: string[], allowFailure = false) {
    const result = await execa(this.info.path, [...this.globalArgs(), ...args], { reject: false });
    if (result.exitCode !== 0 && !allowFailure) {
      throw new RuntimeError(
        'system',
        `${this.info.name} ${args[0]} failed: ${(result.stderr || result.stdout).trim()}`,
      );
    }
    return result;
  }

  async state(id: string): Promise<OciContainerState | undefined> {
    const result = await this.run(['state', id], true);
    if (result.exitCode !== 0) return undefined;
    return JSON.parse(result.stdout) as OciContainerState;
  }

  async start(id: string): Promise<void> {
    await this.run(['start', id]);
  }

  async kill(id: string, signal: string | number, all = false): Promise<void> {
    await this.run(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  async delete(id: string, force = false): Promise<void> {
    const result = await this.run(['delete', ...(force ? ['--force'] : []), id], true);
    if (result.exitCode !== 0 && !/does not exist|not exist/i.test(result.stderr)) {
      throw new RuntimeError('system', `${this.info.name} delete failed: ${result.stderr.trim()}`);
    }
  }

  async pause(id: string): Promise<void> {
    await this.run(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.run(['resume', id]);
  }

  /** Applies the cgroup limits in a `linux.resources` JSON file to a running container. */
  async update(id: string, resourcesFile: string): Promise<void> {
    await this.run(['update', '--resources', resourcesFile, id]);
  }

  /**
   * Whether the runtime can be handed a compiled seccomp filter instead of the profile: crun's
   * `run.oci.seccomp_bpf_data` annotation (runc would ignore it and run unfiltered).
   */
  get takesCompiledSeccomp(): boolean {
    return this.info.name === 'crun';
  }

  /**
   * The seccomp filter crun compiled for a container, which it keeps beside the container's
   * state for `crun exec`; undefined for runc, or when it is not there.
   */
  async compiledSeccomp(id: string): Promise<Buffer | undefined> {
    if (!this.takesCompiledSeccomp) return undefined;
    return readFile(join(this.stateRoot, id, 'seccomp.bpf')).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  }

  /** Host PIDs of every process in the container. */
  async pids(id: string): Promise<number[]> {
    const result = await this.run(['ps', '--format', 'json', id]);
    return (JSON.parse(result.stdout || '[]') as number[] | null) ?? [];
  }
}

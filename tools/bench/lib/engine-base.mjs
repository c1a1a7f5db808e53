// What every engine driver shares: paths, the run's tag, process and cgroup helpers, and the
// Engine base class (its CLI, memory and cleanup hooks).
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, sh, sleep } from './proc.mjs';

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
/** `BENCH_TSCTRD` runs another build of the daemon (e.g. main's, for an A/B comparison). */
export const TSCTRD_BIN = process.env.BENCH_TSCTRD ?? join(REPO_ROOT, 'apps/daemon/dist/index.js');
export const TSCTR_BIN = join(REPO_ROOT, 'apps/cli/dist/index.js');
/** The single executable Bun compiles, what tools/bootstrap links as `tsctr` when it is built. */
export const TSCTR_COMPILED = join(REPO_ROOT, 'apps/cli/compiled/tsctr');
/** The same docker CLI (28) talks to dockerd and to tsctrd, so client cost is equal. */
export const DOCKER_CLI = existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : '/usr/bin/docker';

export const tag = `${process.pid % 100000}`;

export async function commandExists(name) {
  return (await sh(`command -v ${name}`, { check: false })).code === 0;
}

/** Resident set size of a process in MiB (VmRSS), or undefined when it is gone. */
export async function rssMiB(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    return kb / 1024;
  } catch {
    return undefined;
  }
}

/** PIDs whose command line (argv joined by spaces) matches `test`. */
export async function findPids(test) {
  const out = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ');
      if (test(cmdline)) out.push(Number(entry));
    } catch {}
  }
  return out;
}

export async function umountUnder(dir) {
  await sh(`grep -o ' ${dir}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`, {
    check: false,
  });
}

/** Removes a cgroup tree in every v1 hierarchy; retried because exiting tasks keep it busy briefly. */
export async function rmCgroup(name) {
  for (let i = 0; i < 20; i++) {
    const r = await sh(
      `left=0; for c in /sys/fs/cgroup/*/; do [ -d "\${c}${name}" ] || continue; find "\${c}${name}" -depth -type d -exec rmdir {} \\; 2>/dev/null; [ -d "\${c}${name}" ] && left=1; done; exit $left`,
      { check: false },
    );
    if (r.code === 0) return;
    await sleep(250);
  }
}

export function killQuietly(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {}
}

export class Engine {
  /** Short id used in tables and JSON: tsctr, docker, podman. */
  id;
  label;
  version = 'unknown';
  dir;
  env = {};
  started = false;
  /** Engine-specific flags for `pull`/`push` from the local plain-HTTP registry. */
  registryFlags = [];

  /** Runs this engine's CLI. */
  cli(args, options = {}) {
    return run(this.bin, args, { ...options, env: { ...this.env, ...options.env } });
  }

  /** Processes of the daemon for the memory figure: [{ name, pid }]. */
  async daemonProcesses() {
    return [];
  }

  /** PIDs of per-container monitor processes (conmon / containerd-shim). */
  async monitorPids() {
    return [];
  }

  /** The Engine API socket for seeding containers quickly, when the engine has one. */
  socketPath;

  /** Removes every container (a cleanup step, never timed). */
  async removeAllContainers() {
    const ids = (await this.cli(['ps', '-aq'], { check: false })).stdout.split('\n').filter(Boolean);
    for (let i = 0; i < ids.length; i += 100)
      await this.cli(['rm', '-f', ...ids.slice(i, i + 100)], { check: false, timeoutMs: 300_000 });
  }
}

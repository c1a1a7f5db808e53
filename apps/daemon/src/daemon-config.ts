import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ramInBytes } from '@ts-container/common';
import { z } from 'zod';

/** `/etc/tsctr/daemon.json`, validated; command-line flags override it. */
export const DaemonConfigSchema = z
  .object({
    hosts: z.array(z.string()).optional(),
    tls: z.boolean().optional(),
    tlsverify: z.boolean().optional(),
    tlscacert: z.string().optional(),
    tlscert: z.string().optional(),
    tlskey: z.string().optional(),
    'data-root': z.string().optional(),
    'exec-root': z.string().optional(),
    'storage-driver': z.enum(['overlay', 'overlay2', 'copy', 'vfs']).optional(),
    'default-runtime': z.string().optional(),
    'cgroup-parent': z.string().optional(),
    bridge: z.string().optional(),
    bip: z.string().optional(),
    'registry-mirrors': z.array(z.string()).optional(),
    'insecure-registries': z.array(z.string()).optional(),
    'certs-dirs': z.array(z.string()).optional(),
    'log-level': z.enum(['debug', 'info', 'warn', 'error']).optional(),
    'image-gc-budget': z.union([z.number().int().nonnegative(), z.string()]).optional(),
    'userns-remap': z.string().optional(),
  })
  .strict();
export type DaemonConfig = z.infer<typeof DaemonConfigSchema>;

/** One `-H`: a unix socket, a TCP address, or sockets passed by systemd (`fd://`, `fd://3`). */
export type ListenHost =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'fd'; fd?: number };

/** `--tls`/`--tlsverify` with their files: TLS on every TCP listener, client certificates required with verify. */
export interface ServerTls {
  verify: boolean;
  ca?: string;
  cert: string;
  key: string;
}

export interface DaemonOptions {
  hosts: ListenHost[];
  tls?: ServerTls;
  dataRoot: string;
  execRoot: string;
  storageDriver: 'overlay' | 'copy' | 'auto';
  runtime?: string;
  cgroupParent: string;
  bridge: string;
  bip?: string;
  registryMirrors: string[];
  insecureRegistries: string[];
  /** certs.d-style directories of registry CAs; Docker's and ours when not given. */
  certsDirs?: string[];
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Bytes of image layers above which unused images are removed, least recently used first. */
  imageGcBudget?: number;
  /** `--userns-remap`: `default`, `user[:group]` or `uid[:gid]`, resolved by the engine. */
  usernsRemap?: string;
}

export class UsageError extends Error {}

const BOOL_FLAGS = new Set(['--tls', '--tlsverify']);

const FLAGS_WITH_VALUE = new Set([
  '--tlscacert',
  '--tlscert',
  '--tlskey',
  '-H',
  '--host',
  '--data-root',
  '--exec-root',
  '--storage-driver',
  '-s',
  '--runtime',
  '--default-runtime',
  '--cgroup-parent',
  '--bridge',
  '-b',
  '--bip',
  '--config-file',
  '--log-level',
  '-l',
  '--registry-mirror',
  '--insecure-registry',
  '--certs-dir',
  '--image-gc-budget',
  '--userns-remap',
]);

export async function parseDaemonArgs(argv: string[]): Promise<DaemonOptions> {
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') throw new UsageError(usage());
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (BOOL_FLAGS.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : 'true';
      if (value !== 'true' && value !== 'false')
        throw new UsageError(
          `invalid argument "${value}" for "${name}" flag: strconv.ParseBool: parsing "${value}": invalid syntax`,
        );
      flags.set(name, [value]);
      continue;
    }
    if (!FLAGS_WITH_VALUE.has(name)) throw new UsageError(`unknown flag: ${name}\nSee 'tsctrd --help'.`);
    const value = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`flag needs an argument: ${name}`);
    const key =
      {
        '-H': '--host',
        '-s': '--storage-driver',
        '-b': '--bridge',
        '-l': '--log-level',
        '--default-runtime': '--runtime',
      }[name] ?? name;
    flags.set(key, [...(flags.get(key) ?? []), value]);
  }
  const configPath = flags.get('--config-file')?.[0] ?? '/etc/tsctr/daemon.json';
  let config: DaemonConfig = {};
  const raw = await readFile(configPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' && !flags.has('--config-file')) return undefined;
    throw new UsageError(`unable to read configuration file ${configPath}: ${err.message}`);
  });
  if (raw !== undefined) {
    const parsed = DaemonConfigSchema.safeParse(JSON.parse(raw));
    if (!parsed.success)
      throw new UsageError(
        `invalid configuration file ${configPath}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    config = parsed.data;
  }
  const one = (flag: string) => flags.get(flag)?.at(-1);
  // As dockerd: -H and "hosts" in daemon.json may not both be given.
  if (flags.has('--host') && config.hosts)
    throw new UsageError(
      'the following directives are specified both as a flag and in the configuration file: hosts: (from flag: ' +
        `[${flags.get('--host')!.join(' ')}], from file: [${config.hosts.join(' ')}])`,
    );
  const bool = (flag: string, key: 'tls' | 'tlsverify') =>
    flags.has(flag) ? one(flag) === 'true' : (config[key] ?? false);
  const tlsverify = bool('--tlsverify', 'tlsverify') || (process.env.DOCKER_TLS_VERIFY ?? '') !== '';
  const tlsOn = tlsverify || bool('--tls', 'tls');
  const certPath = process.env.DOCKER_CERT_PATH || join(homedir(), '.docker');
  const tls: ServerTls | undefined = tlsOn
    ? {
        verify: tlsverify,
        cert: one('--tlscert') ?? config.tlscert ?? join(certPath, 'cert.pem'),
        key: one('--tlskey') ?? config.tlskey ?? join(certPath, 'key.pem'),
        ...(tlsverify ? { ca: one('--tlscacert') ?? config.tlscacert ?? join(certPath, 'ca.pem') } : {}),
      }
    : undefined;
  const hostSpecs = flags.get('--host') ?? config.hosts ?? [];
  const hosts = (hostSpecs.length > 0 ? hostSpecs : ['unix:///run/tsctr/tsctr.sock']).map((h) =>
    parseListenHost(h, tlsOn),
  );
  for (const h of hosts) {
    // Docker only warns; an unauthenticated API on the network is root for anyone who reaches it.
    if (h.kind === 'tcp' && !tls?.verify && !isLoopback(h.host))
      throw new UsageError(
        `refusing to listen on tcp://${h.host}:${h.port} without --tlsverify: anyone who can reach this address could run containers as root on this host. Use --tlsverify with --tlscacert, --tlscert and --tlskey (mutual TLS), or a loopback address such as tcp://127.0.0.1:${h.port}`,
      );
  }
  const driver = one('--storage-driver') ?? config['storage-driver'] ?? 'auto';
  const storageDriver =
    driver === 'overlay2' || driver === 'overlay'
      ? 'overlay'
      : driver === 'vfs' || driver === 'copy'
        ? 'copy'
        : driver === 'auto'
          ? 'auto'
          : undefined;
  if (storageDriver === undefined) throw new UsageError(`unknown storage driver: ${driver}`);
  const logLevel = (one('--log-level') ?? config['log-level'] ?? 'info') as DaemonOptions['logLevel'];
  const runtime = one('--runtime') ?? config['default-runtime'];
  const bip = one('--bip') ?? config.bip;
  const budgetRaw = one('--image-gc-budget') ?? config['image-gc-budget'];
  const imageGcBudget = budgetRaw === undefined ? undefined : parseBytes(String(budgetRaw));
  const usernsRemap = one('--userns-remap') ?? config['userns-remap'];
  return {
    hosts,
    ...(tls ? { tls } : {}),
    dataRoot: one('--data-root') ?? config['data-root'] ?? '/var/lib/tsctr',
    execRoot: one('--exec-root') ?? config['exec-root'] ?? '/run/tsctr',
    storageDriver,
    ...(runtime ? { runtime } : {}),
    cgroupParent: one('--cgroup-parent') ?? config['cgroup-parent'] ?? '/tsctr',
    bridge: one('--bridge') ?? config.bridge ?? 'tsctr0',
    ...(bip ? { bip } : {}),
    registryMirrors: [...(config['registry-mirrors'] ?? []), ...(flags.get('--registry-mirror') ?? [])],
    insecureRegistries: [
      ...(config['insecure-registries'] ?? []),
      ...(flags.get('--insecure-registry') ?? []),
    ],
    ...(config['certs-dirs'] || flags.get('--certs-dir')
      ? { certsDirs: [...(config['certs-dirs'] ?? []), ...(flags.get('--certs-dir') ?? [])] }
      : {}),
    logLevel,
    ...(imageGcBudget ? { imageGcBudget } : {}),
    ...(usernsRemap ? { usernsRemap } : {}),
  };
}

/**
 * `unix:///path`, `tcp://host:port` (2375, or 2376 with TLS, when no port; 127.0.0.1 when no host),
 * `fd://` or `fd://N` for sockets handed over by systemd.
 */
export function parseListenHost(spec: string, tls = false): ListenHost {
  if (spec.startsWith('unix://'))
    return { kind: 'unix', path: spec.slice('unix://'.length) || '/run/tsctr/tsctr.sock' };
  if (spec.startsWith('/')) return { kind: 'unix', path: spec };
  if (spec.startsWith('fd://')) {
    const rest = spec.slice('fd://'.length);
    if (rest === '') return { kind: 'fd' };
    if (!/^\d+$/.test(rest)) throw new UsageError(`invalid fd host ${spec}: expected fd:// or fd://N`);
    return { kind: 'fd', fd: Number(rest) };
  }
  const m = /^tcp:\/\/(\[[^\]]*\]|[^:/]*)(?::(\d+))?\/?$/.exec(spec);
  if (!m) throw new UsageError(`invalid host ${spec}: expected unix://PATH, tcp://HOST:PORT or fd://`);
  const host = (m[1] ?? '').replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  return { kind: 'tcp', host, port: m[2] ? Number(m[2]) : tls ? 2376 : 2375 };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** `1073741824`, `500MB`, `2g`: Docker-style sizes (binary multiples, as `--memory` takes them). */
function parseBytes(value: string): number {
  try {
    return ramInBytes(value);
  } catch {
    throw new UsageError(`invalid image-gc-budget: ${value}`);
  }
}

export function usage(): string {
  return `Usage:	tsctrd [OPTIONS]

A self-sufficient runtime for containers, serving the Docker Engine API.

Options:
  -H, --host list              Daemon socket(s) to listen on: unix://PATH, tcp://HOST:PORT, fd://
                               (default "unix:///run/tsctr/tsctr.sock")
      --tls                    Use TLS on TCP listeners; implied by --tlsverify
      --tlsverify              Use TLS and require client certificates signed by --tlscacert
      --tlscacert string       Trust certs signed only by this CA (default "~/.docker/ca.pem")
      --tlscert string         Path to TLS certificate file (default "~/.docker/cert.pem")
      --tlskey string          Path to TLS key file (default "~/.docker/key.pem")
      --data-root string       Root directory of persistent state (default "/var/lib/tsctr")
      --exec-root string       Root directory for execution state files (default "/run/tsctr")
  -s, --storage-driver string  Storage driver: overlay2 or vfs (default: overlay2 where the kernel has it)
      --runtime string         OCI runtime: runc, crun or a path (default: detected)
      --cgroup-parent string   Parent cgroup for all containers (default "/tsctr")
  -b, --bridge string          Default bridge name (default "tsctr0")
      --bip string             Default bridge IP and subnet (CIDR)
      --config-file string     Daemon configuration file (default "/etc/tsctr/daemon.json")
      --registry-mirror list   Preferred Docker Hub mirror
      --insecure-registry list Registries reached without TLS verification
      --certs-dir list         certs.d-style CA directories (default /etc/tsctr/certs.d, /etc/docker/certs.d)
      --image-gc-budget bytes  Remove unused images, least recently used first, above this size
      --userns-remap string    Run containers in a user namespace: default, user[:group] or uid[:gid]
  -l, --log-level string       debug, info, warn or error (default "info")
`;
}

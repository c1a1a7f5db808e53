import { invalidParameter } from './errors.js';

/** An OCI platform (image-spec `platform` object). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

// Node's process.arch → GOARCH, the names OCI platforms use.
const NODE_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

// What `uname -m` and other tools call an architecture → GOARCH (containerd's platforms.Normalize).
const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  i386: '386',
};

/** `x86_64` → `amd64`, `aarch64` → `arm64`; other names unchanged (lowercased). */
export function normalizeArchitecture(arch: string): string {
  const lower = arch.toLowerCase();
  return ARCH_ALIASES[lower] ?? lower;
}

/** This host as an OCI platform (`{ os: 'linux', architecture: 'amd64' }`; 32-bit arm is `arm/v7`). */
export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  return architecture === 'arm'
    ? { os: 'linux', architecture, variant: 'v7' }
    : { os: 'linux', architecture };
}

/** `linux/amd64`, `linux/arm/v7`. */
export function formatPlatform(platform: Platform): string {
  const { os, architecture, variant } = platform;
  return variant ? `${os}/${architecture}/${variant}` : `${os}/${architecture}`;
}

/** This host as an OCI platform string (`linux/amd64`, `linux/arm/v7`). */
export function hostPlatformString(): string {
  return formatPlatform(hostPlatform());
}

/** `os[/arch[/variant]]` as `--platform` takes it; a missing arch is this host's. */
export function parsePlatform(value: string): Platform {
  const [os, arch, variant] = value.toLowerCase().split('/');
  if (!os || value.split('/').length > 3)
    throw invalidParameter(`invalid platform: ${JSON.stringify(value)}`);
  const architecture = arch ? normalizeArchitecture(arch) : hostPlatform().architecture;
  return { os, architecture, ...(variant ? { variant } : {}) };
}

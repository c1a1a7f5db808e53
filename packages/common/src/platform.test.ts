import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  formatPlatform,
  hostPlatform,
  hostPlatformString,
  normalizeArchitecture,
  parsePlatform,
} from './platform.js';

describe('platforms', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('names this host with GOARCH names', () => {
    const expected = { x64: 'amd64', arm64: 'arm64', riscv64: 'riscv64' }[process.arch as string];
    if (expected) expect(hostPlatform()).toEqual({ os: 'linux', architecture: expected });
    expect(hostPlatformString()).toBe(formatPlatform(hostPlatform()));
  });

  it.each([
    ['x64', { os: 'linux', architecture: 'amd64' }],
    ['arm', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['ia32', { os: 'linux', architecture: '386' }],
    ['riscv64', { os: 'linux', architecture: 'riscv64' }],
    ['s390x', { os: 'linux', architecture: 's390x' }],
  ])('Node arch %s is %j', (arch, platform) => {
    vi.stubGlobal('process', { ...process, arch });
    expect(hostPlatform()).toEqual(platform);
  });

  it('formats os/arch[/variant]', () => {
    expect(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' })).toBe('linux/arm/v7');
    expect(formatPlatform({ os: 'linux', architecture: 'amd64' })).toBe('linux/amd64');
  });

  it('normalises architecture aliases', () => {
    expect(normalizeArchitecture('x86_64')).toBe('amd64');
    expect(normalizeArchitecture('AARCH64')).toBe('arm64');
    expect(normalizeArchitecture('riscv64')).toBe('riscv64');
  });

  it('parses --platform values', () => {
    expect(parsePlatform('linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('Linux/ARM64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux')).toEqual({ os: 'linux', architecture: hostPlatform().architecture });
    expect(() => parsePlatform('linux/arm/v7/x')).toThrow('invalid platform: "linux/arm/v7/x"');
    expect(() => parsePlatform('')).toThrow('invalid platform: ""');
  });
});

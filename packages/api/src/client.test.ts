import { describe, expect, it } from 'vitest';
import { DEFAULT_SOCKET, hostUrl, parseHost, sshCommand } from './client.js';

describe('parseHost: Docker hosts as the docker CLI reads them', () => {
  it('defaults to the local socket and takes unix:// or a path', () => {
    expect(parseHost(undefined)).toEqual({ kind: 'unix', path: DEFAULT_SOCKET });
    expect(parseHost('unix:///tmp/x.sock')).toEqual({ kind: 'unix', path: '/tmp/x.sock' });
    expect(parseHost('/tmp/y.sock')).toEqual({ kind: 'unix', path: '/tmp/y.sock' });
  });

  it('defaults the TCP port to 2375, or 2376 with TLS', () => {
    expect(parseHost('tcp://10.0.0.1')).toEqual({ kind: 'tcp', host: '10.0.0.1', port: 2375 });
    const tls = { verify: true };
    expect(parseHost('tcp://example.test', tls)).toEqual({
      kind: 'tcp',
      host: 'example.test',
      port: 2376,
      tls,
    });
    expect(parseHost('tcp://[::1]:1234')).toEqual({ kind: 'tcp', host: '::1', port: 1234 });
    expect(hostUrl(parseHost('tcp://[::1]:1234'))).toBe('tcp://[::1]:1234');
  });

  it('reads ssh://[user@]host[:port] and builds the dial-stdio command', () => {
    const e = parseHost('ssh://me@build.test:2222');
    expect(e).toEqual({ kind: 'ssh', host: 'build.test', user: 'me', port: 2222 });
    if (e.kind !== 'ssh') throw new Error('not ssh');
    expect(sshCommand(e)).toEqual([
      'ssh',
      '-o',
      'ConnectTimeout=30',
      '-T',
      '-l',
      'me',
      '-p',
      '2222',
      '--',
      'build.test',
      'tsctr',
      'system',
      'dial-stdio',
    ]);
    expect(hostUrl(e)).toBe('ssh://me@build.test:2222');
  });

  it('rejects what it cannot parse', () => {
    expect(() => parseHost('ftp://x')).toThrow('unable to parse docker host `ftp://x`');
    expect(() => parseHost('ssh://')).toThrow('no host specified');
  });
});

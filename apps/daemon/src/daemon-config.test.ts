import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseDaemonArgs, parseListenHost } from './daemon-config.js';

describe('tsctrd listeners', () => {
  it('parses unix, tcp and fd hosts (2376 with TLS)', () => {
    expect(parseListenHost('unix:///run/x.sock')).toEqual({ kind: 'unix', path: '/run/x.sock' });
    expect(parseListenHost('tcp://:2375')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 2375 });
    expect(parseListenHost('tcp://10.1.2.3', true)).toEqual({ kind: 'tcp', host: '10.1.2.3', port: 2376 });
    expect(parseListenHost('fd://')).toEqual({ kind: 'fd' });
    expect(parseListenHost('fd://4')).toEqual({ kind: 'fd', fd: 4 });
    expect(() => parseListenHost('udp://x')).toThrow('invalid host udp://x');
  });

  it('takes several -H with --tlsverify and its files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'daemon-config-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'daemon.json'), '{}');
    const opts = await parseDaemonArgs([
      '--config-file',
      join(dir, 'daemon.json'),
      '-H',
      'unix:///tmp/a.sock',
      '-H',
      'tcp://0.0.0.0:2376',
      '--tlsverify',
      '--tlscacert',
      '/c/ca.pem',
      '--tlscert=/c/cert.pem',
      '--tlskey',
      '/c/key.pem',
    ]);
    expect(opts.hosts).toEqual([
      { kind: 'unix', path: '/tmp/a.sock' },
      { kind: 'tcp', host: '0.0.0.0', port: 2376 },
    ]);
    expect(opts.tls).toEqual({ verify: true, ca: '/c/ca.pem', cert: '/c/cert.pem', key: '/c/key.pem' });
  });

  it('refuses plain TCP off loopback, and -H together with hosts in daemon.json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'daemon-config-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'empty.json'), '{}');
    await expect(
      parseDaemonArgs(['--config-file', join(dir, 'empty.json'), '-H', 'tcp://0.0.0.0:2375', '--tls']),
    ).rejects.toThrow('refusing to listen on tcp://0.0.0.0:2375 without --tlsverify');
    await expect(
      parseDaemonArgs(['--config-file', join(dir, 'empty.json'), '-H', 'tcp://127.0.0.1:2375']),
    ).resolves.toMatchObject({ hosts: [{ kind: 'tcp', host: '127.0.0.1', port: 2375 }] });
    await writeFile(
      join(dir, 'hosts.json'),
      JSON.stringify({ hosts: ['unix:///tmp/b.sock'], tls: true, tlscert: '/x/c.pem', tlskey: '/x/k.pem' }),
    );
    await expect(
      parseDaemonArgs(['--config-file', join(dir, 'hosts.json'), '-H', 'unix:///tmp/c.sock']),
    ).rejects.toThrow(
      'the following directives are specified both as a flag and in the configuration file: hosts',
    );
    await expect(parseDaemonArgs(['--config-file', join(dir, 'hosts.json')])).resolves.toMatchObject({
      hosts: [{ kind: 'unix', path: '/tmp/b.sock' }],
      tls: { verify: false, cert: '/x/c.pem', key: '/x/k.pem' },
    });
  });
});

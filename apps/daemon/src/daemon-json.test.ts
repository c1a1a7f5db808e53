import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { UsageError, parseDaemonArgs } from './daemon-config.js';

/** daemon.json and the flags over it: what `tsctrd` runs with, and what it refuses to start with. */
describe('tsctrd configuration: daemon.json, flags and defaults', () => {
  let dir: string;
  let n = 0;
  /** Parses `argv` with `config` (an object, or raw text) as the configuration file. */
  const parse = async (config: unknown, ...argv: string[]) => {
    const file = join(dir, `daemon-${n++}.json`);
    await writeFile(file, typeof config === 'string' ? config : JSON.stringify(config));
    return parseDaemonArgs(['--config-file', file, ...argv]);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'daemon-json-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    // The docker CLI's variables turn TLS on: the tests choose them.
    vi.stubEnv('DOCKER_TLS_VERIFY', '');
    vi.stubEnv('DOCKER_CERT_PATH', '');
    return () => vi.unstubAllEnvs();
  });

  it('defaults: the unix socket, /var/lib/tsctr, /run/tsctr, tsctr0, /tsctr, info, no TLS', async () => {
    expect(await parse({})).toEqual({
      hosts: [{ kind: 'unix', path: '/run/tsctr/tsctr.sock' }],
      dataRoot: '/var/lib/tsctr',
      execRoot: '/run/tsctr',
      storageDriver: 'auto',
      cgroupParent: '/tsctr',
      bridge: 'tsctr0',
      registryMirrors: [],
      insecureRegistries: [],
      logLevel: 'info',
    });
  });

  it('a missing default configuration file is no error; a missing named one is', async () => {
    await expect(parseDaemonArgs(['--config-file', join(dir, 'absent.json')])).rejects.toThrow(
      `unable to read configuration file ${join(dir, 'absent.json')}: ENOENT`,
    );
    await expect(parseDaemonArgs(['--config-file', join(dir, 'absent.json')])).rejects.toBeInstanceOf(
      UsageError,
    );
  });

  it('takes every key of daemon.json', async () => {
    const opts = await parse({
      'data-root': '/d',
      'exec-root': '/e',
      'storage-driver': 'vfs',
      'default-runtime': 'crun',
      'cgroup-parent': '/cg',
      bridge: 'br9',
      bip: '10.9.0.1/24',
      'registry-mirrors': ['https://mirror.example'],
      'insecure-registries': ['r.local:5000'],
      'certs-dirs': ['/certs'],
      'log-level': 'debug',
      'image-gc-budget': '2g',
      'userns-remap': 'default',
    });
    expect(opts).toEqual({
      hosts: [{ kind: 'unix', path: '/run/tsctr/tsctr.sock' }],
      dataRoot: '/d',
      execRoot: '/e',
      storageDriver: 'copy',
      runtime: 'crun',
      cgroupParent: '/cg',
      bridge: 'br9',
      bip: '10.9.0.1/24',
      registryMirrors: ['https://mirror.example'],
      insecureRegistries: ['r.local:5000'],
      certsDirs: ['/certs'],
      logLevel: 'debug',
      imageGcBudget: 2 * 1024 ** 3,
      usernsRemap: 'default',
    });
  });

  it('flags override single values and add to lists', async () => {
    const opts = await parse(
      {
        'data-root': '/d',
        bridge: 'br9',
        'insecure-registries': ['a:1'],
        'registry-mirrors': ['https://m1'],
      },
      '--data-root',
      '/flag',
      '-b',
      'br-flag',
      '--insecure-registry',
      'b:2',
      '--registry-mirror=https://m2',
      '-s',
      'overlay2',
      '--image-gc-budget',
      '1073741824',
    );
    expect(opts).toMatchObject({
      dataRoot: '/flag',
      bridge: 'br-flag',
      insecureRegistries: ['a:1', 'b:2'],
      registryMirrors: ['https://m1', 'https://m2'],
      storageDriver: 'overlay',
      imageGcBudget: 1073741824,
    });
    // The last of a repeated single-value flag wins, as with Go's flag package.
    expect(await parse({}, '--bridge', 'one', '--bridge', 'two')).toMatchObject({ bridge: 'two' });
  });

  it('refuses unknown keys and values of the wrong type, naming the key', async () => {
    await expect(parse({ 'data-rot': '/d' })).rejects.toThrow(
      /invalid configuration file .*: : Unrecognized key\(s\) in object: 'data-rot'/,
    );
    await expect(parse({ bridge: 5 })).rejects.toThrow(/bridge: Expected string, received number/);
    await expect(parse({ 'storage-driver': 'zfs' })).rejects.toThrow(/storage-driver: Invalid enum value/);
    await expect(parse({ 'log-level': 'loud' })).rejects.toThrow(/log-level: Invalid enum value/);
    await expect(parse({ 'image-gc-budget': -1 })).rejects.toThrow(/image-gc-budget: /);
    await expect(parse({ 'insecure-registries': 'r:1' })).rejects.toThrow(
      /insecure-registries: Expected array/,
    );
    await expect(parse({ tls: 'yes' })).rejects.toThrow(/tls: Expected boolean, received string/);
    await expect(parse({ bridge: 5 })).rejects.toBeInstanceOf(UsageError);
  });

  it('refuses values no key allows: a storage driver, a size, a flag without its value', async () => {
    await expect(parse({}, '--storage-driver', 'zfs')).rejects.toThrow('unknown storage driver: zfs');
    await expect(parse({ 'image-gc-budget': 'lots' })).rejects.toThrow('invalid image-gc-budget: lots');
    await expect(parse({}, '--image-gc-budget', '12x')).rejects.toThrow('invalid image-gc-budget: 12x');
    await expect(parse({}, '--data-root')).rejects.toThrow('flag needs an argument: --data-root');
    await expect(parse({}, '--no-such-flag')).rejects.toThrow(
      "unknown flag: --no-such-flag\nSee 'tsctrd --help'.",
    );
    await expect(parse({}, '--tlsverify=maybe')).rejects.toThrow(
      'invalid argument "maybe" for "--tlsverify" flag: strconv.ParseBool: parsing "maybe": invalid syntax',
    );
    await expect(parseDaemonArgs(['--help'])).rejects.toThrow(/Usage:/);
  });

  it('is not JSON: JSON.parse’s own SyntaxError (today it does not name the file)', async () => {
    await expect(parse('{ "bridge": ')).rejects.toBeInstanceOf(SyntaxError);
  });

  it('TLS from daemon.json, the files defaulting to DOCKER_CERT_PATH or ~/.docker', async () => {
    expect(await parse({ tls: true, hosts: ['tcp://127.0.0.1'] })).toMatchObject({
      hosts: [{ kind: 'tcp', host: '127.0.0.1', port: 2376 }],
      tls: {
        verify: false,
        cert: join(homedir(), '.docker/cert.pem'),
        key: join(homedir(), '.docker/key.pem'),
      },
    });
    vi.stubEnv('DOCKER_CERT_PATH', '/certs');
    expect(await parse({ tlsverify: true })).toMatchObject({
      tls: { verify: true, ca: '/certs/ca.pem', cert: '/certs/cert.pem', key: '/certs/key.pem' },
    });
    // A flag set to false wins over the file.
    expect(await parse({ tls: true }, '--tls=false')).not.toHaveProperty('tls');
  });
});

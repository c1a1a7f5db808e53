import { describe, expect, it } from 'vitest';
import { CONTAINER_FLAGS } from './container-flags.js';
import { parseBytes, parsePublish, parseRestart } from './container-options.js';
import { buildCreateRequest } from './create-request.js';
import { parseFlags } from './flags.js';
import { renderTable } from './table.js';

describe('parseFlags', () => {
  const specs = [
    { name: 'interactive', short: 'i', type: 'bool' as const, description: '' },
    { name: 'tty', short: 't', type: 'bool' as const, description: '' },
    { name: 'env', short: 'e', type: 'list' as const, description: '' },
    { name: 'name', type: 'string' as const, description: '' },
    { name: 'time', short: 'n', type: 'int' as const, description: '' },
  ];

  it('reads grouped shorthands, inline and separate values, and repeated lists', () => {
    const r = parseFlags(specs, [
      '-it',
      '-e',
      'A=1',
      '--env=B=2',
      '-eC=3',
      '--name',
      'web',
      '-n5',
      'img',
      'cmd',
    ]);
    expect(r.flags).toMatchObject({
      interactive: true,
      tty: true,
      env: ['A=1', 'B=2', 'C=3'],
      name: 'web',
      time: 5,
    });
    expect(r.args).toEqual(['img', 'cmd']);
  });

  it('stops at the first positional when not interspersed (run IMAGE CMD --flag)', () => {
    const r = parseFlags(specs, ['-i', 'busybox', 'ls', '-la', '--name', 'x'], { interspersed: false });
    expect(r.args).toEqual(['busybox', 'ls', '-la', '--name', 'x']);
    expect(r.flags.name).toBeUndefined();
  });

  it('reports bad flags with cobra’s words', () => {
    expect(() => parseFlags(specs, ['--bogus'])).toThrow('unknown flag: --bogus');
    expect(() => parseFlags(specs, ['-z'])).toThrow("unknown shorthand flag: 'z' in -z");
    expect(() => parseFlags(specs, ['--name'])).toThrow('flag needs an argument: --name');
    expect(() => parseFlags(specs, ['-n', 'x'])).toThrow('invalid argument "x" for "-n, --time" flag');
  });
});

describe('container flag values', () => {
  it('parses sizes with binary units', () => {
    expect(parseBytes('512m', '-m')).toBe(512 * 1024 * 1024);
    expect(parseBytes('1g', '-m')).toBe(1024 ** 3);
    expect(() => parseBytes('lots', '-m')).toThrow('invalid size');
  });

  it('parses -p forms into exposed ports and bindings', () => {
    const r = parsePublish(['127.0.0.1:8080:80', '9000:90/udp', '443', '8000-8001:7000-7001']);
    expect(r.bindings['80/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: '8080' }]);
    expect(r.bindings['90/udp']).toEqual([{ HostIp: '', HostPort: '9000' }]);
    expect(r.bindings['443/tcp']).toEqual([{ HostIp: '', HostPort: '' }]);
    expect(r.bindings['7001/tcp']).toEqual([{ HostIp: '', HostPort: '8001' }]);
    expect(() => parsePublish(['70000:80'])).toThrow('invalid hostPort: 70000');
  });

  it('keeps a host port range for one container port, as nat.ParsePortSpec does', () => {
    const r = parsePublish(['8000-8010:80', '[::1]:9000:90']);
    expect(r.bindings['80/tcp']).toEqual([{ HostIp: '', HostPort: '8000-8010' }]);
    expect(r.bindings['90/tcp']).toEqual([{ HostIp: '::1', HostPort: '9000' }]);
    expect(() => parsePublish(['80/icmp'])).toThrow('invalid proto: icmp');
  });

  it('parses restart policies', () => {
    expect(parseRestart('on-failure:3')).toEqual({ Name: 'on-failure', MaximumRetryCount: 3 });
    expect(() => parseRestart('sometimes')).toThrow('invalid restart policy format');
  });

  it('builds a create request like the docker CLI', () => {
    const { flags, args } = parseFlags(
      CONTAINER_FLAGS,
      ['--rm', '-m', '64m', '--cpuset-cpus', '0', '-h', 'box', '-e', 'A=1', 'busybox', 'echo', 'hi'],
      { interspersed: false },
    );
    const req = buildCreateRequest(flags, args[0]!, args.slice(1), {});
    expect(req).toMatchObject({ Image: 'busybox', Cmd: ['echo', 'hi'], Env: ['A=1'], Hostname: 'box' });
    expect(req.HostConfig).toMatchObject({
      AutoRemove: true,
      Memory: 64 * 1024 * 1024,
      CpusetCpus: '0',
      NetworkMode: 'default',
    });
  });
});

describe('renderTable', () => {
  it('pads like Docker’s tabwriter (min width 10, padding 3)', () => {
    expect(
      renderTable([
        ['CONTAINER ID', 'IMAGE', 'NAMES'],
        ['abc', 'busybox', 'web'],
      ]),
    ).toBe('CONTAINER ID   IMAGE     NAMES\nabc            busybox   web');
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTAINER_FLAGS } from './container-flags.js';
import { buildCreateRequest } from './create-request.js';
import {
  parseDevice,
  parseDeviceCgroupRule,
  parseGpus,
  parseThrottleDevice,
  parseWeightDevice,
} from './device-options.js';
import { parseFlags } from './flags.js';

describe('run/create flags into a create request', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'create-request-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('takes -e NAME from the client environment, and leaves it out when unset', () => {
    const r = buildCreateRequest({ env: ['SET', 'UNSET', 'X=1'] }, 'busybox', [], { SET: 'yes' });
    expect(r.Env).toEqual(['SET=yes', 'X=1']);
  });

  it('reads --label-file like an env file', async () => {
    const file = join(dir, 'labels');
    await writeFile(file, '# comment\na=1\n\nb=two words\n');
    const r = buildCreateRequest({ 'label-file': [file], label: ['c=3'] }, 'busybox', [], {});
    expect(r.Labels).toEqual({ a: '1', b: 'two words', c: '3' });
  });

  it('parses --device as the docker CLI does', () => {
    expect(parseDevice('/dev/fuse')).toEqual({
      PathOnHost: '/dev/fuse',
      PathInContainer: '/dev/fuse',
      CgroupPermissions: 'rwm',
    });
    expect(parseDevice('/dev/sda:/dev/xvdc:r')).toEqual({
      PathOnHost: '/dev/sda',
      PathInContainer: '/dev/xvdc',
      CgroupPermissions: 'r',
    });
    expect(parseDevice('/dev/sda:rw')).toEqual({
      PathOnHost: '/dev/sda',
      PathInContainer: '/dev/sda',
      CgroupPermissions: 'rw',
    });
    expect(() => parseDevice('/dev/sda:/x:bad')).toThrow('bad format for path');
  });
});

describe('the Linux resource and namespace flags', () => {
  const request = (argv: string[]) => {
    const { flags } = parseFlags(CONTAINER_FLAGS, argv);
    return buildCreateRequest(flags, 'busybox', [], {});
  };

  it('puts each flag under the HostConfig field the docker CLI sends', () => {
    const r = request([
      '--annotation=org.example.a=1',
      '--blkio-weight=300',
      '--blkio-weight-device=/dev/sda:200',
      '--device-read-bps=/dev/sda:1mb',
      '--device-write-bps=/dev/sda:2k',
      '--device-read-iops=/dev/sda:100',
      '--device-write-iops=/dev/sda:200',
      '--device-cgroup-rule=c 1:3 mr',
      '--cgroup-parent=/custom',
      '--cgroupns=private',
      '--uts=host',
      '--group-add=audio',
      '--group-add=1234',
      '--kernel-memory=10m',
      '--memory-reservation=64m',
      '--memory-swappiness=10',
      '--oom-kill-disable',
      '--oom-score-adj=500',
      '--cpu-rt-period=1000',
      '--cpu-rt-runtime=500',
      '--storage-opt=size=1G',
      '--volume-driver=local',
      '--disable-content-trust',
    ]);
    expect(r.HostConfig).toMatchObject({
      Annotations: { 'org.example.a': '1' },
      BlkioWeight: 300,
      BlkioWeightDevice: [{ Path: '/dev/sda', Weight: 200 }],
      BlkioDeviceReadBps: [{ Path: '/dev/sda', Rate: 1024 * 1024 }],
      BlkioDeviceWriteBps: [{ Path: '/dev/sda', Rate: 2048 }],
      BlkioDeviceReadIOps: [{ Path: '/dev/sda', Rate: 100 }],
      BlkioDeviceWriteIOps: [{ Path: '/dev/sda', Rate: 200 }],
      DeviceCgroupRules: ['c 1:3 mr'],
      CgroupParent: '/custom',
      CgroupnsMode: 'private',
      UTSMode: 'host',
      GroupAdd: ['audio', '1234'],
      KernelMemory: 10 * 1024 * 1024,
      MemoryReservation: 64 * 1024 * 1024,
      MemorySwappiness: 10,
      OomKillDisable: true,
      OomScoreAdj: 500,
      CpuRealtimePeriod: 1000,
      CpuRealtimeRuntime: 500,
      StorageOpt: { size: '1G' },
      VolumeDriver: 'local',
    });
  });

  it('leaves swappiness unset at its default of -1', () => {
    expect(request([]).HostConfig?.MemorySwappiness).toBeUndefined();
  });

  it('sends --ip6, --link-local-ip and --health-start-interval where Docker does', () => {
    const r = request([
      '--network=net1',
      '--ip6=2001:db8::33',
      '--link-local-ip=169.254.1.1',
      '--health-cmd=true',
      '--health-start-interval=2s',
    ]);
    expect(r.NetworkingConfig?.EndpointsConfig?.net1?.IPAMConfig).toEqual({
      IPv6Address: '2001:db8::33',
      LinkLocalIPs: ['169.254.1.1'],
    });
    expect(r.Healthcheck?.StartInterval).toBe(2e9);
  });

  it('turns --gpus into a DeviceRequest', () => {
    expect(request(['--gpus=all']).HostConfig?.DeviceRequests).toEqual([
      { Driver: '', Count: -1, DeviceIDs: null, Capabilities: [['gpu']], Options: {} },
    ]);
    expect(parseGpus('device=0')).toMatchObject({ Count: 0, DeviceIDs: ['0'] });
  });

  it("refuses bad values with the docker CLI's messages", () => {
    expect(() => parseWeightDevice('/dev/sda:5')).toThrow(
      'invalid argument "/dev/sda:5" for "--blkio-weight-device" flag: invalid weight for device: /dev/sda:5',
    );
    expect(() => parseWeightDevice('sda:500')).toThrow('bad format for device path: sda:500');
    expect(() => parseThrottleDevice('/dev/sda', 'device-read-bps', 'bps')).toThrow('bad format: /dev/sda');
    expect(() => parseThrottleDevice('/dev/sda:x', 'device-read-iops', 'iops')).toThrow(
      'invalid rate for device: /dev/sda:x. The correct format is <device-path>:<number>. Number must be a positive integer',
    );
    expect(() => parseDeviceCgroupRule('x 1:3 r')).toThrow("invalid device cgroup format 'x 1:3 r'");
    expect(() => request(['--cgroupns=other'])).toThrow('--cgroupns: invalid CGROUP mode');
    expect(() => request(['--uts=other'])).toThrow('--uts: invalid UTS mode');
    expect(() => request(['--storage-opt=size'])).toThrow('invalid storage option');
  });
});

import { describe, expect, it } from 'vitest';
import { ContainerCreateRequestSchema } from './types.js';

describe('ContainerCreateRequestSchema', () => {
  it('reads JSON null as unset and keeps fields it does not know', () => {
    const body = ContainerCreateRequestSchema.parse({
      Image: 'busybox',
      User: null,
      StopSignal: null,
      Healthcheck: { Test: ['CMD', 'true'], Interval: null, Timeout: null, Retries: null, StartPeriod: null },
      HostConfig: {
        RestartPolicy: { Name: null, MaximumRetryCount: null },
        LogConfig: null,
        Memory: null,
        PortBindings: { '80/tcp': null },
      },
      NetworkingConfig: { EndpointsConfig: { mynet: null } },
      SomethingNew: 1,
    });
    expect(body.User).toBeUndefined();
    expect(body.Healthcheck).toEqual({ Test: ['CMD', 'true'] });
    expect(body.HostConfig?.RestartPolicy).toEqual({ Name: 'no', MaximumRetryCount: 0 });
    expect(body.HostConfig?.LogConfig).toBeUndefined();
    // In maps, null is a value: an exposed port without a binding, a network without settings.
    expect(body.HostConfig?.PortBindings).toEqual({ '80/tcp': null });
    expect(body.NetworkingConfig?.EndpointsConfig).toEqual({ mynet: null });
    expect((body as Record<string, unknown>).SomethingNew).toBe(1);
  });

  it('matches field names whatever their case, as Go’s JSON decoder does', () => {
    const body = ContainerCreateRequestSchema.parse({
      image: 'busybox',
      HostConfig: {
        CPURealtimePeriod: 1000,
        CPURealtimeRuntime: 500,
        memory: 1024,
        Memory: 2048,
        mounts: [{ type: 'tmpfs', target: '/t' }],
        Sysctls: { 'net.ipv4.ip_forward': '1' },
      },
    });
    expect(body.Image).toBe('busybox');
    expect(body.HostConfig).toMatchObject({
      CpuRealtimePeriod: 1000,
      CpuRealtimeRuntime: 500,
      Memory: 2048,
      Mounts: [{ Type: 'tmpfs', Target: '/t' }],
      // Map keys are data, not field names.
      Sysctls: { 'net.ipv4.ip_forward': '1' },
    });
  });
});

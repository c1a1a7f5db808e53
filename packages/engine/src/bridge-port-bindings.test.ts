import { describe, expect, it } from 'vitest';
import { portBindingRequests } from './bridge-port-bindings.js';
import { EngineError } from './errors.js';

describe('portBindingRequests', () => {
  it("turns HostConfig.PortBindings into publish requests: ports, ranges, protocols, Docker's defaults", () => {
    expect(
      portBindingRequests({
        '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
        '53/UDP': [{ HostIp: '', HostPort: '7000-7005' }],
        '443': [],
      }),
    ).toEqual([
      // An integer-like key ('443') comes first in a JS object.
      { hostIp: undefined, hostPort: undefined, hostPortEnd: undefined, containerPort: 443, protocol: 'tcp' },
      { hostIp: '127.0.0.1', hostPort: 8080, hostPortEnd: undefined, containerPort: 80, protocol: 'tcp' },
      { hostIp: undefined, hostPort: 7000, hostPortEnd: 7005, containerPort: 53, protocol: 'udp' },
    ]);
  });

  it('refuses bad protocols and port texts with Docker messages', () => {
    const message = (bindings: Parameters<typeof portBindingRequests>[0]) => {
      try {
        portBindingRequests(bindings);
      } catch (err) {
        expect(err).toBeInstanceOf(EngineError);
        return (err as Error).message;
      }
      return 'no error';
    };
    expect(message({ '80/icmp': [] })).toBe('invalid proto: icmp');
    expect(message({ 'http/tcp': [] })).toBe('invalid port specification: "http"');
    expect(message({ '80/tcp': [{ HostIp: '', HostPort: 'x' }] })).toBe('invalid port specification: "x"');
  });
});

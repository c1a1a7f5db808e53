import { describe, expect, it } from 'vitest';
import { formatPortBinding, parsePortSpec, publishAllMappings } from './port-spec.js';

describe('parsePortSpec', () => {
  it('parses ip, host port, container port and protocol', () => {
    expect(parsePortSpec('127.0.0.1:8080:80/tcp')).toEqual([
      { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    ]);
    expect(parsePortSpec('8080:80/UDP')).toEqual([
      { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'udp' },
    ]);
  });

  it('a bare container port (and "::80") publishes on a random host port', () => {
    expect(parsePortSpec('80')).toEqual([{ hostIp: '', containerPort: 80, protocol: 'tcp' }]);
    expect(parsePortSpec('::80')).toEqual([{ hostIp: '', containerPort: 80, protocol: 'tcp' }]);
    expect(parsePortSpec('127.0.0.1::80')).toEqual([
      { hostIp: '127.0.0.1', containerPort: 80, protocol: 'tcp' },
    ]);
    expect(parsePortSpec('0:80')).toEqual([{ hostIp: '', containerPort: 80, protocol: 'tcp' }]);
  });

  it('expands ranges pairwise', () => {
    expect(parsePortSpec('8000-8001:80-81')).toEqual([
      { hostIp: '', hostPort: 8000, containerPort: 80, protocol: 'tcp' },
      { hostIp: '', hostPort: 8001, containerPort: 81, protocol: 'tcp' },
    ]);
    expect(parsePortSpec('80-81/udp')).toHaveLength(2);
  });

  it('a host range with one container port means any free port in the range', () => {
    expect(parsePortSpec('8000-8010:80')).toEqual([
      { hostIp: '', hostPort: 8000, hostPortEnd: 8010, containerPort: 80, protocol: 'tcp' },
    ]);
  });

  it('accepts bracketed and bare IPv6 host addresses', () => {
    expect(parsePortSpec('[::1]:8080:80')).toEqual([
      { hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    ]);
    expect(parsePortSpec('::1:8080:80')[0]?.hostIp).toBe('::1');
  });

  it("rejects bad input with Docker's messages", () => {
    expect(() => parsePortSpec('70000:80')).toThrow('invalid hostPort: 70000');
    expect(() => parsePortSpec('8080:70000')).toThrow('invalid containerPort: 70000');
    expect(() => parsePortSpec('8080:abc')).toThrow('invalid containerPort: abc');
    expect(() => parsePortSpec('8080:80/icmp')).toThrow('invalid proto: icmp');
    expect(() => parsePortSpec('1.2.3:8080:80')).toThrow('invalid IP address: 1.2.3');
    expect(() => parsePortSpec('8080:')).toThrow('no port specified: 8080:<empty>');
    expect(() => parsePortSpec('8000-8002:80-81')).toThrow(
      'invalid ranges specified for container and host Ports: 80-81 and 8000-8002',
    );
    expect(() => parsePortSpec('81-80')).toThrow('invalid containerPort: 81-80');
    try {
      parsePortSpec('70000:80');
    } catch (err) {
      expect((err as { kind: string }).kind).toBe('invalid-parameter');
    }
  });

  it('-P maps every exposed port to a random host port', () => {
    expect(publishAllMappings(['80/tcp', '53/udp', '8080'])).toEqual([
      { hostIp: '', containerPort: 80, protocol: 'tcp' },
      { hostIp: '', containerPort: 53, protocol: 'udp' },
      { hostIp: '', containerPort: 8080, protocol: 'tcp' },
    ]);
    expect(() => publishAllMappings(['99999/tcp'])).toThrow('invalid containerPort: 99999');
  });

  it('formats bindings like `docker port`', () => {
    expect(formatPortBinding({ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' })).toBe(
      '80/tcp -> 0.0.0.0:8080',
    );
    expect(formatPortBinding({ hostIp: '::', hostPort: 8080, containerPort: 53, protocol: 'udp' })).toBe(
      '53/udp -> [::]:8080',
    );
  });
});

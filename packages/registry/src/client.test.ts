import { describe, expect, it } from 'vitest';
import { parseChallenge } from './auth.js';
import { apiHost, isInsecure } from './client.js';

describe('isInsecure', () => {
  it('allows plain HTTP for loopback registries only, like Docker', () => {
    expect(isInsecure('127.0.0.1:5000')).toBe(true);
    expect(isInsecure('127.1.2.3')).toBe(true);
    expect(isInsecure('localhost:5000')).toBe(true);
    expect(isInsecure('[::1]:5000')).toBe(true);
    expect(isInsecure('registry.example.com')).toBe(false);
    expect(isInsecure('10.0.0.5:5000')).toBe(false);
  });

  it('honours insecure-registries entries by host, host:port and CIDR', () => {
    expect(isInsecure('registry.example.com:5000', ['registry.example.com:5000'])).toBe(true);
    expect(isInsecure('registry.example.com', ['registry.example.com'])).toBe(true);
    expect(isInsecure('10.1.2.3:5000', ['10.0.0.0/8'])).toBe(true);
    expect(isInsecure('11.1.2.3:5000', ['10.0.0.0/8'])).toBe(false);
  });
});

describe('apiHost', () => {
  it('maps Docker Hub names to its API host', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });
});

describe('parseChallenge', () => {
  it('parses a bearer challenge with quoted parameters', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.example.com/token',
        service: 'registry.example.com',
        scope: 'repository:a/b:pull,push',
      },
    });
  });

  it('parses basic challenges and ignores unknown schemes', () => {
    expect(parseChallenge('Basic realm="test-realm"')).toEqual({
      scheme: 'basic',
      params: { realm: 'test-realm' },
    });
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
    expect(parseChallenge(undefined)).toBeUndefined();
  });
});

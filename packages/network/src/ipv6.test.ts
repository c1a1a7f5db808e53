import { describe, expect, it } from 'vitest';
import { contains6, formatIpv6, lastAddress6, parseCidr6, parseIpv6 } from './ipv6.js';

describe('ipv6', () => {
  it('parses and formats RFC 5952 text', () => {
    for (const [text, canonical] of [
      ['2001:389::f00d', '2001:389::f00d'],
      ['2001:0389:0000:0000:0000:0000:0000:f00d', '2001:389::f00d'],
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::', 'fe80::'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ] as const) {
      const value = parseIpv6(text);
      expect(value, text).toBeDefined();
      expect(formatIpv6(value as bigint)).toBe(canonical);
    }
    for (const bad of ['1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '1.2.3.4', ''])
      expect(parseIpv6(bad), bad).toBeUndefined();
  });

  it('parses subnets and clears the host bits', () => {
    const subnet = parseCidr6('2001:389::1/64');
    expect(subnet).toEqual({ network: parseIpv6('2001:389::'), prefixLen: 64 });
    expect(contains6(subnet!, parseIpv6('2001:389::f00d')!)).toBe(true);
    expect(contains6(subnet!, parseIpv6('2001:38a::1')!)).toBe(false);
    expect(formatIpv6(lastAddress6(parseCidr6('2001:389::/96')!))).toBe('2001:389::ffff:ffff');
  });
});

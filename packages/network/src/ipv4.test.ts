import { describe, expect, it } from 'vitest';
import { formatCidr, macFromIpv4, parseCidr, parseIpv4, subnetsOverlap } from './ipv4.js';

describe('ipv4', () => {
  it('parses addresses and CIDRs, clearing host bits', () => {
    expect(parseIpv4('172.17.0.2')).toBe(0xac110002);
    expect(parseIpv4('256.0.0.1')).toBeUndefined();
    expect(parseIpv4('1.2.3')).toBeUndefined();
    const subnet = parseCidr('172.20.5.9/16');
    expect(subnet && formatCidr(subnet)).toBe('172.20.0.0/16');
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
  });

  it('detects overlapping subnets', () => {
    const a = parseCidr('172.18.0.0/16');
    const b = parseCidr('172.18.4.0/24');
    const c = parseCidr('172.19.0.0/16');
    if (!a || !b || !c) throw new Error('parse');
    expect(subnetsOverlap(a, b)).toBe(true);
    expect(subnetsOverlap(a, c)).toBe(false);
  });

  it("derives Docker's MAC address from the IP", () => {
    expect(macFromIpv4('172.17.0.2')).toBe('02:42:ac:11:00:02');
  });
});

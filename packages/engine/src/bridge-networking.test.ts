import { describe, expect, it } from 'vitest';
import { blankNetworkSettings } from './bridge-networking.js';

describe('blankNetworkSettings', () => {
  it('keeps the networks and what the user asked for, not the addresses of the last run', () => {
    const settings = blankNetworkSettings({
      web: {
        NetworkID: 'abc',
        IPAMConfig: { IPv4Address: '10.1.0.9' },
        Aliases: ['www'],
        IPAddress: '10.1.0.9',
        // Derived from the address (02:42 + octets): not a user choice, so it is dropped.
        MacAddress: '02:42:0a:01:00:09',
      },
      other: { MacAddress: '92:d0:c6:0a:29:33' },
    });
    const networks = settings.Networks as Record<string, Record<string, unknown>>;
    expect(settings.IPAddress).toBe('');
    expect(settings.Ports).toEqual({});
    expect(networks.web).toMatchObject({
      NetworkID: 'abc',
      IPAMConfig: { IPv4Address: '10.1.0.9' },
      Aliases: ['www'],
      IPAddress: '',
      MacAddress: '',
      EndpointID: '',
    });
    expect(networks.other?.MacAddress).toBe('92:d0:c6:0a:29:33');
  });
});

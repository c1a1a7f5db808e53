import type { EndpointSettingsRequest } from '@ts-container/api';
import { macFromIpv4 } from '@ts-container/network';
import type { ContainerRecord } from './container-store.js';

// Docker's `NetworkSettings` of a container as the bridge networking records them: the endpoint
// configuration a request asked for, and the blank shape of a container that is not running.

/** Docker's `EndpointSettings` as the engine keeps them in `NetworkSettings.Networks[name]`. */
export interface EndpointConfig {
  IPAMConfig?:
    | {
        IPv4Address?: string | undefined;
        IPv6Address?: string | undefined;
        LinkLocalIPs?: string[] | undefined;
      }
    | null
    | undefined;
  Links?: string[] | null | undefined;
  Aliases?: string[] | null | undefined;
  MacAddress?: string | undefined;
  DriverOpts?: Record<string, string> | null | undefined;
  [key: string]: unknown;
}

/** A request's EndpointsConfig entry (create, network connect) with its nulls and empty values dropped. */
export function endpointConfig(e: EndpointSettingsRequest | null | undefined): EndpointConfig {
  if (!e) return {};
  const ipam = e.IPAMConfig;
  const ipamConfig = {
    ...(ipam?.IPv4Address ? { IPv4Address: ipam.IPv4Address } : {}),
    ...(ipam?.IPv6Address ? { IPv6Address: ipam.IPv6Address } : {}),
    ...(ipam?.LinkLocalIPs?.length ? { LinkLocalIPs: ipam.LinkLocalIPs } : {}),
  };
  return {
    ...(Object.keys(ipamConfig).length > 0 ? { IPAMConfig: ipamConfig } : {}),
    ...(e.Links?.length ? { Links: e.Links } : {}),
    ...(e.Aliases?.length ? { Aliases: e.Aliases } : {}),
    ...(e.MacAddress ? { MacAddress: e.MacAddress } : {}),
    ...(e.DriverOpts ? { DriverOpts: e.DriverOpts } : {}),
  };
}

const BLANK_ENDPOINT = {
  IPAMConfig: null,
  Links: null,
  Aliases: null,
  MacAddress: '',
  NetworkID: '',
  EndpointID: '',
  Gateway: '',
  IPAddress: '',
  IPPrefixLen: 0,
  IPv6Gateway: '',
  GlobalIPv6Address: '',
  GlobalIPv6PrefixLen: 0,
  DriverOpts: null,
  DNSNames: null,
};

/** `NetworkSettings` of a container that is not running: Docker keeps the networks, not the addresses. */
export function blankNetworkSettings(
  networks: Record<string, EndpointConfig> = {},
  sandbox: { id?: string; key?: string } = {},
): Record<string, unknown> {
  const Networks: Record<string, unknown> = {};
  for (const [name, e] of Object.entries(networks)) {
    const requestedMac = e.MacAddress && !isDerivedMac(e) ? e.MacAddress : '';
    Networks[name] = {
      ...BLANK_ENDPOINT,
      IPAMConfig: e.IPAMConfig ?? null,
      Links: e.Links?.length ? e.Links : null,
      Aliases: e.Aliases?.length ? e.Aliases : null,
      MacAddress: requestedMac,
      DriverOpts: e.DriverOpts ?? null,
      NetworkID: typeof e.NetworkID === 'string' ? e.NetworkID : '',
    };
  }
  return {
    Bridge: '',
    SandboxID: sandbox.id ?? '',
    SandboxKey: sandbox.key ?? '',
    Ports: {},
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: '',
    Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    MacAddress: '',
    Networks,
  };
}

/** A MAC we derived from the IP (02:42:…) was not asked for; after a restart the IP may differ. */
export function isDerivedMac(e: EndpointConfig): boolean {
  const ip = typeof e.IPAddress === 'string' ? e.IPAddress : '';
  return ip !== '' && e.MacAddress === macFromIpv4(ip);
}

/** The networks a container record names, with their endpoint configuration. */
export const networksOf = (c: ContainerRecord): Record<string, EndpointConfig> =>
  ((c.NetworkSettings.Networks ?? {}) as Record<string, EndpointConfig>) || {};

import { dnsNames } from './resolver.js';
import type { EndpointRecord, NetworkRecord, PublishedPort } from './state.js';
import type { EndpointInfo, EndpointSettings, NetworkInspect } from './types.js';

// How the records look from outside: Docker's `network inspect` and `NetworkSettings` shapes, and
// the endpoint summary the engine uses. Pure.

/** An endpoint as the engine sees it; `dnsServed` when its network has a running embedded DNS. */
export function endpointInfo(
  endpoint: EndpointRecord,
  network: NetworkRecord,
  dnsServed: boolean,
): EndpointInfo {
  const dns = dnsServed ? network.gateway : undefined;
  return {
    networkId: network.id,
    networkName: network.name,
    endpointId: endpoint.id,
    interfaceName: endpoint.interfaceName,
    ipAddress: endpoint.ipAddress,
    prefixLen: endpoint.prefixLen,
    gateway: network.internal ? '' : (network.gateway ?? ''),
    ipv6Address: endpoint.ipv6Address ?? '',
    prefixLen6: endpoint.ipv6Address ? (endpoint.prefixLen6 ?? 0) : 0,
    gateway6: endpoint.ipv6Address && !network.internal ? (network.gateway6 ?? '') : '',
    macAddress: endpoint.macAddress,
    aliases: endpoint.aliases,
    ...(dns ? { dnsServer: dns } : {}),
  };
}

/** `NetworkSettings.Networks[name]` of `docker inspect <container>`. */
export function endpointSettings(
  endpoint: EndpointRecord,
  network: NetworkRecord,
  info: EndpointInfo,
): EndpointSettings {
  const userNetwork = network.name !== 'bridge';
  return {
    IPAMConfig: null,
    Links: endpoint.links?.length ? [...endpoint.links] : null,
    Aliases: userNetwork ? info.aliases : null,
    MacAddress: info.macAddress,
    NetworkID: network.id,
    EndpointID: info.endpointId,
    Gateway: info.gateway,
    IPAddress: info.ipAddress,
    IPPrefixLen: info.prefixLen,
    IPv6Gateway: info.gateway6,
    GlobalIPv6Address: info.ipv6Address,
    GlobalIPv6PrefixLen: info.prefixLen6,
    DriverOpts: null,
    DNSNames: userNetwork ? dnsNames(endpoint) : null,
  };
}

/** `NetworkSettings.Ports`: every exposed port (null when unpublished) and the container's published ones. */
export function portsView(
  exposedPorts: readonly string[],
  ports: readonly PublishedPort[],
): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const view: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const exposed of exposedPorts) view[exposed.includes('/') ? exposed : `${exposed}/tcp`] = null;
  for (const port of ports) {
    const key = `${port.containerPort}/${port.protocol}`;
    const list = view[key] ?? [];
    list.push({ HostIp: port.hostIp, HostPort: String(port.hostPort) });
    view[key] = list;
  }
  return view;
}

/** `docker network inspect`; `endpoints` are the network's. */
export function inspectRecord(network: NetworkRecord, endpoints: readonly EndpointRecord[]): NetworkInspect {
  const containers: NetworkInspect['Containers'] = {};
  for (const e of endpoints) {
    containers[e.containerId] = {
      Name: e.containerName,
      EndpointID: e.id,
      MacAddress: e.macAddress,
      IPv4Address: `${e.ipAddress}/${e.prefixLen}`,
      IPv6Address: e.ipv6Address ? `${e.ipv6Address}/${e.prefixLen6 ?? 64}` : '',
    };
  }
  return {
    Name: network.name,
    Id: network.id,
    Created: network.created,
    Scope: network.scope ?? 'local',
    Driver: network.driver,
    EnableIPv6: network.enableIPv6 ?? false,
    IPAM: {
      Driver: 'default',
      Options: network.ipamOptions ? { ...network.ipamOptions } : null,
      Config: [
        ...(network.subnet
          ? [
              {
                Subnet: network.subnet,
                ...(network.ipRange ? { IPRange: network.ipRange } : {}),
                ...(network.gateway ? { Gateway: network.gateway } : {}),
                ...(network.auxAddresses ? { AuxiliaryAddresses: { ...network.auxAddresses } } : {}),
              },
            ]
          : []),
        ...(network.subnet6
          ? [
              {
                Subnet: network.subnet6,
                ...(network.ipRange6 ? { IPRange: network.ipRange6 } : {}),
                ...(network.gateway6 ? { Gateway: network.gateway6 } : {}),
                ...(network.auxAddresses6 ? { AuxiliaryAddresses: { ...network.auxAddresses6 } } : {}),
              },
            ]
          : []),
      ],
    },
    Internal: network.internal,
    Attachable: network.attachable ?? false,
    Ingress: network.ingress ?? false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: { ...network.options },
    Labels: { ...network.labels },
  };
}

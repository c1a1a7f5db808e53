import { parsePortRange } from '@ts-container/common';
import type { PortBindingRequest } from '@ts-container/network';
import type { ContainerRecord } from './container-store.js';
import { invalidParameter } from './errors.js';

/** HostConfig.PortBindings (`{"80/tcp": [{HostIp, HostPort}]}`) into publish requests. */
export function portBindingRequests(
  portBindings: NonNullable<ContainerRecord['HostConfig']['PortBindings']>,
): PortBindingRequest[] {
  const out: PortBindingRequest[] = [];
  for (const [key, list] of Object.entries(portBindings ?? {})) {
    const [portText = '', protoText = 'tcp'] = key.split('/');
    const protocol = protoText.toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp')
      throw invalidParameter(`invalid proto: ${protoText}`);
    let containerPort: number;
    try {
      containerPort = parsePortRange(portText)[0];
    } catch {
      throw invalidParameter(`invalid port specification: "${portText}"`);
    }
    for (const b of list && list.length > 0 ? list : [{ HostIp: '', HostPort: '' }]) {
      let hostPort: number | undefined;
      let hostPortEnd: number | undefined;
      if (b.HostPort) {
        let range: [number, number];
        try {
          range = parsePortRange(b.HostPort);
        } catch {
          throw invalidParameter(`invalid port specification: "${b.HostPort}"`);
        }
        hostPort = range[0];
        if (range[1] !== range[0]) hostPortEnd = range[1];
      }
      out.push({
        hostIp: b.HostIp || undefined,
        hostPort,
        hostPortEnd,
        containerPort,
        protocol,
      });
    }
  }
  return out;
}

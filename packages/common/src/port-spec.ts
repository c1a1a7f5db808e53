import { isIP } from 'node:net';
import { invalidParameter } from './errors.js';

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

/**
 * One container port to publish, as `-p` describes it. `hostPort` undefined means "any free port";
 * `hostPortEnd` set means "any free port in hostPort..hostPortEnd" (Docker's `-p 8000-8010:80`).
 * `hostIp` empty means all IPv4 addresses (0.0.0.0).
 */
export interface PortMapping {
  hostIp: string;
  hostPort?: number;
  hostPortEnd?: number;
  containerPort: number;
  protocol: PortProtocol;
}

// The rules below follow go-connections' nat.ParsePortSpec, which the docker CLI uses for -p,
// including its error texts.

function splitParts(raw: string): [ip: string, hostPort: string, containerPort: string] {
  const parts = raw.split(':');
  const n = parts.length;
  const containerPort = parts[n - 1] ?? '';
  if (n === 1) return ['', '', containerPort];
  if (n === 2) return ['', parts[0] ?? '', containerPort];
  if (n === 3) return [parts[0] ?? '', parts[1] ?? '', containerPort];
  return [parts.slice(0, n - 2).join(':'), parts[n - 2] ?? '', containerPort];
}

/** Splits "80/udp" into protocol and port; a bare port is tcp. */
export function splitProtoPort(raw: string): [protocol: string, port: string] {
  const parts = raw.split('/');
  if (raw.length === 0 || parts[0] === '') return ['', ''];
  if (parts.length === 1) return ['tcp', raw];
  if (parts[1] === '') return ['tcp', parts[0] ?? ''];
  return [parts[1] ?? '', parts[0] ?? ''];
}

function parseUint16(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return value <= 65535 ? value : undefined;
}

/** Parses "80" or "8000-8010" into an inclusive range. */
export function parsePortRange(text: string): [start: number, end: number] {
  if (text === '') throw invalidParameter('empty string specified for ports');
  if (!text.includes('-')) {
    const port = parseUint16(text);
    if (port === undefined) throw invalidParameter(`invalid port: ${text}`);
    return [port, port];
  }
  const parts = text.split('-');
  const start = parseUint16(parts[0]);
  const end = parseUint16(parts[1]);
  if (start === undefined || end === undefined || end < start) {
    throw invalidParameter(`invalid range specified for port: ${text}`);
  }
  return [start, end];
}

/**
 * Parses one `-p`/`--publish` value: `[ip:][hostPort[-end]:]containerPort[-end][/proto]`, e.g.
 * "127.0.0.1:8080:80/tcp", "8000-8001:80-81", "80", "::80", "[::1]:8080:80".
 */
export function parsePortSpec(raw: string): PortMapping[] {
  let [ip, hostPort, rest] = splitParts(raw);
  const [rawProtocol, containerPortText] = splitProtoPort(rest);
  if (ip.startsWith('[')) {
    const close = ip.indexOf(']');
    if (close !== ip.length - 1) throw invalidParameter(`invalid IP address ${ip}: missing ']' in address`);
    ip = ip.slice(1, close);
  }
  if (ip !== '' && isIP(ip) === 0) throw invalidParameter(`invalid IP address: ${ip}`);
  if (containerPortText === '') throw invalidParameter(`no port specified: ${raw}<empty>`);

  let containerRange: [number, number];
  try {
    containerRange = parsePortRange(containerPortText);
  } catch {
    throw invalidParameter(`invalid containerPort: ${containerPortText}`);
  }
  let hostRange: [number, number] | undefined;
  if (hostPort !== '') {
    try {
      hostRange = parsePortRange(hostPort);
    } catch {
      throw invalidParameter(`invalid hostPort: ${hostPort}`);
    }
  }
  const [start, end] = containerRange;
  if (hostRange && end - start !== hostRange[1] - hostRange[0] && end !== start) {
    // A host range with a single container port means "pick one free port in this range".
    throw invalidParameter(
      `invalid ranges specified for container and host Ports: ${containerPortText} and ${hostPort}`,
    );
  }
  const protocol = rawProtocol.toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') {
    throw invalidParameter(`invalid proto: ${rawProtocol}`);
  }

  const mappings: PortMapping[] = [];
  for (let i = 0; i <= end - start; i++) {
    const mapping: PortMapping = { hostIp: ip, containerPort: start + i, protocol };
    if (hostRange) {
      const first = hostRange[0] + i;
      if (start === end && hostRange[0] !== hostRange[1]) {
        mapping.hostPort = hostRange[0];
        mapping.hostPortEnd = hostRange[1];
      } else if (first !== 0) {
        mapping.hostPort = first;
      }
    }
    mappings.push(mapping);
  }
  return mappings;
}

/** Parses several `-p` values, as `docker run -p a -p b` does. */
export function parsePortSpecs(raws: readonly string[]): PortMapping[] {
  return raws.flatMap((raw) => parsePortSpec(raw));
}

/**
 * `-P`/`--publish-all`: every exposed port (image `ExposedPorts` keys such as "80/tcp", or `--expose`
 * values) on a random host port.
 */
export function publishAllMappings(exposedPorts: Iterable<string>): PortMapping[] {
  const mappings: PortMapping[] = [];
  for (const exposed of exposedPorts) {
    const [rawProtocol, portText] = splitProtoPort(exposed);
    const protocol = rawProtocol.toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') {
      throw invalidParameter(`invalid proto: ${rawProtocol}`);
    }
    let range: [number, number];
    try {
      range = parsePortRange(portText);
    } catch {
      throw invalidParameter(`invalid containerPort: ${portText}`);
    }
    for (let port = range[0]; port <= range[1]; port++)
      mappings.push({ hostIp: '', containerPort: port, protocol });
  }
  return mappings;
}

/** `docker port` line for one binding, e.g. "80/tcp -> 0.0.0.0:8080". */
export function formatPortBinding(binding: {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: string;
}): string {
  const host = binding.hostIp.includes(':') ? `[${binding.hostIp}]` : binding.hostIp || '0.0.0.0';
  return `${binding.containerPort}/${binding.protocol} -> ${host}:${binding.hostPort}`;
}

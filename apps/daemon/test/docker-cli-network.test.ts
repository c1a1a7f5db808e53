import { request } from 'node:http';
import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('tsctrd network end-to-end tests');

function api(socketPath: string, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(skip !== undefined)('the real docker CLI: networks, swarm, info and volume prune', () => {
  const daemon = useDaemon({ prune: { cli: 'docker', networks: true } });
  const tag = `${process.pid}`;

  it("`run --network container:web hostname -i` resolves web's host name", async () => {
    const web = `web${tag}`;
    expect(
      (await daemon.docker(['run', '-d', '--name', web, '-h', 'webhost', 'busybox', 'sleep', '60'])).exitCode,
    ).toBe(0);
    const ip = (await daemon.docker(['inspect', '--format', '{{.NetworkSettings.IPAddress}}', web])).stdout;
    const r = await daemon.docker([
      'run',
      '--rm',
      '--network',
      `container:${web}`,
      'busybox',
      'sh',
      '-c',
      'hostname; hostname -i; cat /etc/hostname',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual(['webhost', ip, 'webhost']);
    const named = await daemon.docker([
      'run',
      '--rm',
      '--network',
      `container:${web}`,
      '-h',
      'x',
      'busybox',
      'true',
    ]);
    expect(named.stderr).toContain('conflicting options: hostname and the network mode');
    await daemon.docker(['rm', '-f', web]);
  });

  it('answers Swarm commands as an engine outside a swarm', async () => {
    const leave = await daemon.docker(['swarm', 'leave', '--force']);
    expect(leave.exitCode).not.toBe(0);
    expect(leave.stderr).toContain('This node is not part of a swarm');
    for (const args of [
      ['node', 'ls'],
      ['service', 'ls'],
      ['secret', 'ls'],
      ['config', 'ls'],
    ]) {
      const r = await daemon.docker(args);
      expect(r.exitCode, args.join(' ')).not.toBe(0);
      expect(r.stderr).toContain('This node is not a swarm manager.');
    }
    const info = await daemon.docker([
      'info',
      '--format',
      '{{.Swarm.LocalNodeState}} {{.Debug}} {{.ExperimentalBuild}}',
    ]);
    expect(info.stdout).toBe('inactive false false');
  });

  it('outside a swarm every Swarm endpoint is a 503 with Docker’s message', async () => {
    for (const [method, path, message] of [
      ['POST', '/v1.41/swarm/leave?force=1', 'This node is not part of a swarm'],
      ['GET', '/v1.41/swarm', 'This node is not a swarm manager.'],
      ['GET', '/v1.41/services', 'This node is not a swarm manager.'],
      ['GET', '/v1.41/tasks/abc/logs', 'This node is not a swarm manager.'],
      ['DELETE', '/v1.41/secrets/abc', 'This node is not a swarm manager.'],
      ['POST', '/v1.41/swarm/join', 'Swarm mode join is not supported'],
    ] as const) {
      const r = await api(daemon.socketPath, method, path);
      expect(r.status, path).toBe(503);
      expect(JSON.parse(r.body).message).toContain(message);
    }
  });

  it('volume prune: every unused volume before API 1.42, only anonymous ones from 1.42', async () => {
    const named = `named${tag}`;
    await daemon.docker(['volume', 'create', named]);
    const anonymous = JSON.parse((await api(daemon.socketPath, 'POST', '/v1.47/volumes/create')).body).Name;
    const recent = JSON.parse((await api(daemon.socketPath, 'POST', '/v1.47/volumes/prune')).body);
    expect(recent.VolumesDeleted).toEqual([anonymous]);
    const old = JSON.parse((await api(daemon.socketPath, 'POST', '/v1.41/volumes/prune')).body);
    expect(old.VolumesDeleted).toEqual([named]);
    // Nothing left: still a list, never null.
    const none = JSON.parse((await api(daemon.socketPath, 'POST', '/v1.41/volumes/prune')).body);
    expect(none.VolumesDeleted).toEqual([]);
  });

  it('a network name may hold a space, as in Docker', async () => {
    const name = `test ${tag}`;
    expect((await daemon.docker(['network', 'create', name])).exitCode).toBe(0);
    expect((await daemon.docker(['network', 'inspect', '--format', '{{.Name}}', name])).stdout).toBe(name);
    expect((await daemon.docker(['network', 'rm', name])).exitCode).toBe(0);
  });

  it('IPAM: aux addresses and options round-trip; a second overlapping pool is refused', async () => {
    const name = `ipam${tag}`;
    const created = await daemon.docker([
      'network',
      'create',
      '--subnet',
      '10.251.0.0/16',
      '--ip-range',
      '10.251.5.0/24',
      '--gateway',
      '10.251.5.254',
      '--aux-address',
      'a=10.251.5.0',
      '--ipam-opt',
      'foo=bar',
      name,
    ]);
    expect(created.stderr).toBe('');
    const ipam = JSON.parse(
      (await daemon.docker(['network', 'inspect', '--format', '{{json .IPAM}}', name])).stdout,
    );
    expect(ipam).toEqual({
      Driver: 'default',
      Options: { foo: 'bar' },
      Config: [
        {
          Subnet: '10.251.0.0/16',
          IPRange: '10.251.5.0/24',
          Gateway: '10.251.5.254',
          AuxiliaryAddresses: { a: '10.251.5.0' },
        },
      ],
    });
    // The aux address (the range's first) is never handed out: the first container gets the next one.
    const ip = await daemon.docker([
      'run',
      '--rm',
      '--network',
      name,
      'busybox',
      'ip',
      '-o',
      '-4',
      'addr',
      'show',
      'eth0',
    ]);
    expect(ip.stdout).toContain('inet 10.251.5.1/16');
    const overlap = await daemon.docker(['network', 'create', '--subnet', '10.251.3.0/24', `o${tag}`]);
    expect(overlap.stderr).toContain('Pool overlaps with other one on this address space');
    await daemon.docker(['network', 'rm', name]);
  });

  it('IPv6 networks: the bridge and each container get real IPv6 addresses, --ip6 is honoured', async () => {
    const name = `v6${tag}`;
    const created = await daemon.docker([
      'network',
      'create',
      '--ipv6',
      '--subnet',
      '2001:db8:42::/64',
      '--gateway',
      '2001:db8:42::ffff',
      name,
    ]);
    expect(created.stderr).toBe('');
    const inspect = JSON.parse((await daemon.docker(['network', 'inspect', name])).stdout)[0];
    expect(inspect.EnableIPv6).toBe(true);
    expect(inspect.IPAM.Config).toContainEqual({ Subnet: '2001:db8:42::/64', Gateway: '2001:db8:42::ffff' });
    const server = `s6${tag}`;
    await daemon.docker([
      'run',
      '-d',
      '--name',
      server,
      '--network',
      name,
      '--ip6',
      '2001:db8:42::f00d',
      'busybox',
      'sleep',
      '60',
    ]);
    const settings = JSON.parse(
      (
        await daemon.docker([
          'inspect',
          '--format',
          `{{json (index .NetworkSettings.Networks "${name}")}}`,
          server,
        ])
      ).stdout,
    );
    expect(settings.IPAMConfig).toEqual({ IPv6Address: '2001:db8:42::f00d' });
    expect(settings.GlobalIPv6Address).toBe('2001:db8:42::f00d');
    expect(settings.GlobalIPv6PrefixLen).toBe(64);
    expect(settings.IPv6Gateway).toBe('2001:db8:42::ffff');
    // A second container reaches the first and the gateway over IPv6.
    const r = await daemon.docker([
      'run',
      '--rm',
      '--network',
      name,
      'busybox',
      'sh',
      '-c',
      'ip -o -6 addr show eth0 scope global; ping -6 -c1 -W3 2001:db8:42::f00d >/dev/null && ping -6 -c1 -W3 2001:db8:42::ffff >/dev/null && echo reached',
    ]);
    expect(r.stdout).toMatch(/inet6 2001:db8:42::1\/64/);
    expect(r.stdout).toContain('reached');
    // The embedded DNS answers AAAA with the container's IPv6 address.
    const lookup = await daemon.docker(['run', '--rm', '--network', name, 'busybox', 'nslookup', server]);
    expect(lookup.stdout).toContain('2001:db8:42::f00d');
    await daemon.docker(['rm', '-f', server]);
    await daemon.docker(['network', 'rm', name]);
  });

  it('network connect --link: the alias resolves for that container only', async () => {
    const net = `links${tag}`;
    await daemon.docker(['network', 'create', net]);
    const c = `linker${tag}`;
    await daemon.docker(['run', '-d', '--name', c, '--network', net, 'busybox', 'sleep', '60']);
    await daemon.docker(['network', 'disconnect', net, c]);
    const connected = await daemon.docker(['network', 'connect', '--link', `up${tag}:bar`, net, c]);
    expect(connected.stderr).toBe('');
    expect(
      (
        await daemon.docker([
          'inspect',
          '--format',
          `{{json (index .NetworkSettings.Networks "${net}").Links}}`,
          c,
        ])
      ).stdout,
    ).toBe(`["up${tag}:bar"]`);
    // The linked container starts afterwards: the alias is looked up at query time.
    await daemon.docker(['run', '-d', '--name', `up${tag}`, '--network', net, 'busybox', 'sleep', '60']);
    const upIp = (
      await daemon.docker([
        'inspect',
        '--format',
        `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`,
        `up${tag}`,
      ])
    ).stdout;
    const lookup = await daemon.docker(['exec', c, 'nslookup', 'bar']);
    expect(lookup.stdout).toContain(upIp);
    const other = await daemon.docker(['run', '--rm', '--network', net, 'busybox', 'nslookup', 'bar']);
    expect(other.stdout).not.toContain(upIp);
    await daemon.docker(['rm', '-f', c, `up${tag}`]);
    await daemon.docker(['network', 'rm', net]);
  });
});

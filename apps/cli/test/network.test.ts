import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type Server, createServer, get } from 'node:http';
import { join } from 'node:path';
import { e2eSkip, freePort, useDaemon } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('tsctr network end-to-end tests');

const HTTPD =
  'mkdir -p /var/www && echo hello-from-$(hostname) > /var/www/index.html && exec httpd -f -p 80 -h /var/www';

/** GET over the host's network stack, retried while the server in the container starts. */
async function httpGet(url: string, attempts = 50): Promise<string> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const req = get(url, { timeout: 2000 }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve(body));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
      });
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
}

const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { encoding: 'utf8' });

describe.skipIf(skip !== undefined)('tsctr networking: modes, user networks, published ports', () => {
  const daemon = useDaemon({ prune: { cli: 'tsctr', networks: true } });
  const tag = `${process.pid}`;
  const netA = `neta${tag}`;
  const netB = `netb${tag}`;

  const run = (args: string[]) => daemon.tsctr(args);
  const inspect = async (ref: string, format: string) =>
    (await run(['inspect', '--format', format, ref])).stdout.trim();
  const bridgePorts = () =>
    sh(`ip -o link show master ${daemon.bridge} 2>/dev/null || true`).split('\n').filter(Boolean);
  /** Waits until a detached container printed something (its own view of its addresses). */
  const logsOf = async (ref: string, until: RegExp) => {
    for (let i = 0; i < 100; i++) {
      const out = (await run(['logs', ref])).stdout;
      if (until.test(out)) return out;
      await new Promise((r) => setTimeout(r, 100));
    }
    return (await run(['logs', ref])).stdout;
  };

  it('--network none: only loopback', async () => {
    const r = await run(['run', '--rm', '--network', 'none', 'busybox', 'ip', '-o', 'link']);
    expect(r.exitCode).toBe(0);
    const names = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(':')[1]?.trim());
    expect(names).toEqual(['lo']);
  });

  it('default bridge: eth0 carries the address inspect shows, with a default route via the gateway', async () => {
    const r = await run([
      'run',
      '-d',
      '--name',
      `b1${tag}`,
      'busybox',
      'sh',
      '-c',
      'ip -o -4 addr show eth0; ip route; exec sleep 300',
    ]);
    expect(r.exitCode).toBe(0);
    const ip = await inspect(`b1${tag}`, '{{.NetworkSettings.IPAddress}}');
    const gateway = await inspect(`b1${tag}`, '{{.NetworkSettings.Gateway}}');
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await inspect(`b1${tag}`, '{{.NetworkSettings.Networks.bridge.IPAddress}}')).toBe(ip);
    const logs = await logsOf(`b1${tag}`, /default via/);
    expect(logs).toContain(`eth0    inet ${ip}/`);
    expect(logs).toContain(`default via ${gateway} dev eth0`);
    // The host end of the veth sits on this daemon's bridge.
    expect(bridgePorts().length).toBe(1);
    const bridgeNet = JSON.parse((await run(['network', 'inspect', 'bridge'])).stdout)[0];
    expect(bridgeNet.IPAM.Config[0].Gateway).toBe(gateway);
    expect(Object.keys(bridgeNet.Containers)).toHaveLength(1);
  });

  it("--network container:NAME joins the other container's namespace", async () => {
    const ip = await inspect(`b1${tag}`, '{{.NetworkSettings.IPAddress}}');
    const r = await run([
      'run',
      '--rm',
      '--network',
      `container:b1${tag}`,
      'busybox',
      'ip',
      '-o',
      '-4',
      'addr',
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`inet ${ip}/`);
    // Docker: the joining container takes the other's host name, so `hostname -i` resolves it
    // through the /etc/hosts the two share.
    const names = await run([
      'run',
      '--rm',
      '--network',
      `container:b1${tag}`,
      'busybox',
      'sh',
      '-c',
      'hostname; hostname -i',
    ]);
    expect(names.stderr).toBe('');
    expect(names.stdout.split('\n')).toEqual([await inspect(`b1${tag}`, '{{.Config.Hostname}}'), ip]);
    await run(['create', '--name', `stopped${tag}`, 'busybox', 'true']);
    const bad = await run(['run', '--rm', '--network', `container:stopped${tag}`, 'busybox', 'true']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain(`cannot join network of a non running container: stopped${tag}`);
    await run(['rm', '-f', `stopped${tag}`]);
  });

  it('--network container:NAME of a --network none container shares its namespace (made by the OCI runtime)', async () => {
    const loner = `none${tag}`;
    expect(
      (await run(['run', '-d', '--name', loner, '--network', 'none', 'busybox', 'sleep', '300'])).exitCode,
    ).toBe(0);
    try {
      const pid = await inspect(loner, '{{.State.Pid}}');
      const joined = await run([
        'run',
        '--rm',
        '--network',
        `container:${loner}`,
        'busybox',
        'sh',
        '-c',
        'ip -o link | cut -d: -f2; readlink /proc/self/ns/net',
      ]);
      expect(joined.exitCode).toBe(0);
      const [link, ns] = joined.stdout.split('\n').map((l) => l.trim());
      expect(link).toBe('lo');
      expect(ns).toBe(readlinkSync(`/proc/${pid}/ns/net`));
    } finally {
      await run(['rm', '-f', loner]);
    }
  });

  it("--network host: the host's interfaces", async () => {
    const r = await run(['run', '--rm', '--network', 'host', 'busybox', 'ip', '-o', 'link']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`${daemon.bridge}:`);
    const hostLinks = sh('ip -o link')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(':')[1]?.trim().split('@')[0]);
    for (const name of hostLinks.slice(0, 2)) expect(r.stdout).toContain(`${name}`);
  });

  it('user-defined networks: containers reach each other by name and are isolated from other networks', async () => {
    expect((await run(['network', 'create', netA])).exitCode).toBe(0);
    expect((await run(['network', 'create', '--subnet', '10.231.0.0/24', netB])).exitCode).toBe(0);
    const ls = await run(['network', 'ls']);
    expect(ls.stdout.split('\n')[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    expect(ls.stdout).toMatch(new RegExp(`[0-9a-f]{12}\\s+${netA}\\s+bridge\\s+local`));
    expect(ls.stdout).toMatch(/\sbridge\s+bridge\s+local/);
    expect(ls.stdout).toMatch(/\shost\s+host\s+local/);
    expect(ls.stdout).toMatch(/\snone\s+null\s+local/);

    await run([
      'run',
      '-d',
      '--name',
      `srva${tag}`,
      '--network',
      netA,
      '--network-alias',
      'db',
      'busybox',
      'sleep',
      '300',
    ]);
    const ipA = JSON.parse(await inspect(`srva${tag}`, '{{json .NetworkSettings.Networks}}'))[netA].IPAddress;
    expect(ipA).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    const r = await run([
      'run',
      '--rm',
      '--network',
      netA,
      'busybox',
      'sh',
      '-c',
      `ping -c1 -W3 srva${tag} && nslookup srva${tag} && nslookup db && cat /etc/resolv.conf`,
    ]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('1 packets received');
    expect(r.stdout.match(new RegExp(`Address: ${ipA.replace(/\./g, '\\.')}`, 'g'))?.length).toBe(2);

    // Another network: neither the address nor the name is reachable.
    const other = await run([
      'run',
      '--rm',
      '--network',
      netB,
      'busybox',
      'sh',
      '-c',
      `ip -o -4 addr show eth0; ping -c1 -W1 ${ipA} && echo REACHED; nslookup srva${tag} || echo NXDOMAIN`,
    ]);
    expect(other.stdout).toContain('inet 10.231.0.2/24');
    expect(other.stdout).not.toContain('REACHED');
    expect(other.stdout).toContain('NXDOMAIN');
  });

  it('network connect/disconnect a running container', async () => {
    await run(['run', '-d', '--name', `c2${tag}`, 'busybox', 'sleep', '300']);
    expect((await run(['network', 'connect', '--alias', 'cache', netA, `c2${tag}`])).exitCode).toBe(0);
    const nets = JSON.parse(await inspect(`c2${tag}`, '{{json .NetworkSettings.Networks}}'));
    expect(Object.keys(nets).sort()).toEqual(['bridge', netA].sort());
    const r = await run(['run', '--rm', '--network', netA, 'busybox', 'ping', '-c1', '-W3', 'cache']);
    expect(r.exitCode).toBe(0);
    expect((await run(['network', 'disconnect', netA, `c2${tag}`])).exitCode).toBe(0);
    const after = JSON.parse(await inspect(`c2${tag}`, '{{json .NetworkSettings.Networks}}'));
    expect(Object.keys(after)).toEqual(['bridge']);
    const rm = await run(['network', 'rm', netA]);
    expect(rm.exitCode).toBe(1);
    expect(rm.stderr).toContain('has active endpoints');
    await run(['rm', '-f', `c2${tag}`]);
  });

  it('publishes a port on loopback (-p 127.0.0.1:PORT:80) and all exposed ports (-P)', async () => {
    const port = await freePort();
    const web = `web${tag}`;
    const r = await run([
      'run',
      '-d',
      '--name',
      web,
      '-p',
      `127.0.0.1:${port}:80`,
      'busybox',
      'sh',
      '-c',
      HTTPD,
    ]);
    expect(r.exitCode).toBe(0);
    expect(await httpGet(`http://127.0.0.1:${port}/`)).toMatch(/^hello-from-/);
    expect((await run(['port', web])).stdout).toBe(`80/tcp -> 127.0.0.1:${port}`);
    expect((await run(['port', web, '80'])).stdout).toBe(`127.0.0.1:${port}`);
    const none = await run(['port', web, '81']);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toContain(`No public port '81/tcp' published for ${web}`);
    expect((await run(['ps', '--format', '{{.Ports}}', '--filter', `name=${web}`])).stdout).toContain(
      `127.0.0.1:${port}->80/tcp`,
    );

    const all = `all${tag}`;
    await run(['run', '-d', '--name', all, '--expose', '80', '-P', 'busybox', 'sh', '-c', HTTPD]);
    const line = (await run(['port', all, '80/tcp'])).stdout.trim();
    expect(line).toMatch(/^0\.0\.0\.0:\d+$/);
    const hostPort = Number(line.split(':')[1]);
    expect(await httpGet(`http://127.0.0.1:${hostPort}/`)).toMatch(/^hello-from-/);
    const ports = JSON.parse(await inspect(all, '{{json .NetworkSettings.Ports}}'));
    expect(ports['80/tcp']).toEqual([{ HostIp: '0.0.0.0', HostPort: String(hostPort) }]);
    await run(['rm', '-f', all]);
    await expect(httpGet(`http://127.0.0.1:${hostPort}/`, 1)).rejects.toThrow();
  });

  it('a container reaches a server on the host through the bridge gateway', async () => {
    const gateway = JSON.parse((await run(['network', 'inspect', 'bridge'])).stdout)[0].IPAM.Config[0]
      .Gateway;
    const server: Server = createServer((_req, res) => res.end('from-the-host'));
    await new Promise<void>((resolve) => server.listen(0, gateway, resolve));
    const { port } = server.address() as { port: number };
    try {
      const r = await run(['run', '--rm', 'busybox', 'wget', '-q', '-O', '-', `http://${gateway}:${port}/`]);
      expect(r.stdout).toBe('from-the-host');
      expect(r.exitCode).toBe(0);
    } finally {
      server.close();
    }
  });

  it('--dns, --add-host and -h end up in resolv.conf and hosts', async () => {
    const r = await run([
      'run',
      '--rm',
      '-h',
      'myhost',
      '--dns',
      '192.0.2.53',
      '--dns-search',
      'example.test',
      '--add-host',
      'gw:host-gateway',
      'busybox',
      'sh',
      '-c',
      'cat /etc/resolv.conf /etc/hosts',
    ]);
    expect(r.stdout).toContain('nameserver 192.0.2.53');
    expect(r.stdout).toContain('search example.test');
    expect(r.stdout).toMatch(/\d+\.\d+\.\d+\.\d+\tgw/);
    expect(r.stdout).toMatch(/\d+\.\d+\.\d+\.\d+\tmyhost/);
  });

  it('Docker-style errors for bad input', async () => {
    const badPort = await run(['run', '--rm', '-p', '70000:80', 'busybox', 'true']);
    expect(badPort.exitCode).toBe(125);
    expect(badPort.stderr).toContain('invalid hostPort: 70000');

    const before = (await run(['ps', '-aq'])).stdout;
    const noNet = await run(['run', '--rm', '--network', 'nosuch', 'busybox', 'true']);
    expect(noNet.exitCode).toBe(125);
    expect(noNet.stderr).toContain('network nosuch not found');
    expect((await run(['ps', '-aq'])).stdout).toBe(before);

    const overlap = await run(['network', 'create', '--subnet', '10.231.0.0/16', `ovl${tag}`]);
    expect(overlap.exitCode).toBe(1);
    expect(overlap.stderr).toContain('Error response from daemon:');
    expect(overlap.stderr).toContain('Pool overlaps with other one on this address space');

    const dup = await run(['network', 'create', netB]);
    expect(dup.stderr).toContain(`network with name ${netB} already exists`);
    const rmBuiltin = await run(['network', 'rm', 'bridge']);
    expect(rmBuiltin.stderr).toContain('bridge is a pre-defined network and cannot be removed');
    const missing = await run(['network', 'inspect', 'nosuch']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('network nosuch not found');
  });

  it('the real docker CLI: network create/ls/rm and run -p', async () => {
    const name = `dnet${tag}`;
    const created = await daemon.docker(['network', 'create', '--label', 'from=docker', name]);
    expect(created.exitCode).toBe(0);
    expect(created.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    const ls = await daemon.docker([
      'network',
      'ls',
      '--filter',
      'label=from=docker',
      '--format',
      '{{.Name}}',
    ]);
    expect(ls.stdout.trim()).toBe(name);
    const port = await freePort();
    const r = await daemon.docker([
      'run',
      '-d',
      '--name',
      `dweb${tag}`,
      '--network',
      name,
      '-p',
      `127.0.0.1:${port}:80`,
      'busybox',
      'sh',
      '-c',
      HTTPD,
    ]);
    expect(r.exitCode).toBe(0);
    expect(await httpGet(`http://127.0.0.1:${port}/`)).toMatch(/^hello-from-/);
    expect((await daemon.docker(['port', `dweb${tag}`])).stdout).toContain(`80/tcp -> 127.0.0.1:${port}`);
    await daemon.docker(['rm', '-f', `dweb${tag}`]);
    const rm = await daemon.docker(['network', 'rm', name]);
    expect(rm.exitCode).toBe(0);
    expect(rm.stdout.trim()).toBe(name);
  });

  it('leaves nothing behind after rm -f, and after a daemon crash and restart', async () => {
    const port = await freePort();
    await run([
      'run',
      '-d',
      '--name',
      `crash${tag}`,
      '-p',
      `127.0.0.1:${port}:80`,
      'busybox',
      'sh',
      '-c',
      HTTPD,
    ]);
    await run(['run', '-d', '--name', `dies${tag}`, 'busybox', 'sleep', '300']);
    expect(await httpGet(`http://127.0.0.1:${port}/`)).toMatch(/^hello-from-/);
    const diesPid = Number(await inspect(`dies${tag}`, '{{.State.Pid}}'));

    await daemon.kill9();
    // While the daemon is gone one container dies; the other keeps running.
    process.kill(diesPid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    await daemon.launch();

    expect(await inspect(`crash${tag}`, '{{.State.Running}}')).toBe('true');
    expect(await httpGet(`http://127.0.0.1:${port}/`)).toMatch(/^hello-from-/);
    expect(await inspect(`dies${tag}`, '{{.State.Running}}')).toBe('false');
    expect(await inspect(`dies${tag}`, '{{.NetworkSettings.IPAddress}}')).toBe('');

    const list = (await run(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    await run(['rm', '-f', ...list]);
    expect(bridgePorts()).toEqual([]);
    const state = JSON.parse(await readFile(join(daemon.dataRoot, 'network', 'networks.json'), 'utf8'));
    expect(state.endpoints).toEqual([]);
    expect(state.ports).toEqual([]);
    const rules = sh(`nft list table ip tsctr_${daemon.bridge}`);
    expect(rules).not.toContain(`dport ${port}`);
    await expect(httpGet(`http://127.0.0.1:${port}/`, 1)).rejects.toThrow();
    expect(sh(`ls ${join(daemon.execRoot, 'netns')} 2>/dev/null || true`).trim()).toBe('');
  });
});

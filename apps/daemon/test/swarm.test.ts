import { readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('tsctrd swarm end-to-end tests');

function api(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path, headers: body ? { 'Content-Type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

describe.skipIf(skip !== undefined)('single-node swarm mode through the real docker CLI', () => {
  const daemon = useDaemon({ prune: { cli: 'docker', swarm: true } });
  const tag = `${process.pid}`;

  it('overlay networks need a swarm manager', async () => {
    const r = await daemon.docker(['network', 'create', '-d', 'overlay', `early${tag}`]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(
      'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.',
    );
  });

  it('init, info, an attachable overlay network two containers talk over, restart, leave', async () => {
    const init = await daemon.docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
    expect(init.stderr).toBe('');
    expect(init.exitCode).toBe(0);
    const nodeId = /current node \(([a-z0-9]{25})\) is now a manager/.exec(init.stdout)?.[1];
    expect(nodeId, init.stdout).toBeDefined();

    const again = await daemon.docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
    expect(again.exitCode).not.toBe(0);
    expect(again.stderr).toContain('This node is already part of a swarm.');

    const info = await daemon.docker([
      'info',
      '--format',
      '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}} {{.Swarm.Nodes}} {{.Swarm.Managers}} {{.Swarm.NodeAddr}}',
    ]);
    expect(info.stdout).toBe(`active true ${nodeId} 1 1 127.0.0.1`);
    const human = await daemon.docker(['info']);
    expect(human.stdout).toContain('Swarm: active');
    expect(human.stdout).toContain(`NodeID: ${nodeId}`);
    expect(human.stdout).toContain('Is Manager: true');

    const nodes = await daemon.docker(['node', 'ls', '--format', '{{.ID}} {{.Self}} {{.ManagerStatus}}']);
    expect(nodes.stdout).toBe(`${nodeId} true Leader`);
    expect((await daemon.docker(['service', 'ls', '-q'])).stdout).toBe('');
    const service = await daemon.docker(['service', 'create', 'busybox', 'sleep', '60']);
    expect(service.exitCode).not.toBe(0);
    expect(service.stderr).toContain('Swarm services are not supported by this engine');

    const ingress = await daemon.docker([
      'network',
      'inspect',
      '--format',
      '{{.Driver}} {{.Scope}} {{.Ingress}} {{(index .IPAM.Config 0).Subnet}}',
      'ingress',
    ]);
    expect(ingress.stdout).toBe('overlay swarm true 10.0.0.0/24');

    const net = `ov${tag}`;
    expect((await daemon.docker(['network', 'create', '-d', 'overlay', '--attachable', net])).exitCode).toBe(
      0,
    );
    const inspect = await daemon.docker([
      'network',
      'inspect',
      '--format',
      '{{.Driver}} {{.Scope}} {{.Attachable}} {{.Ingress}}',
      net,
    ]);
    expect(inspect.stdout).toBe('overlay swarm true false');
    const ls = await daemon.docker(['network', 'ls', '--filter', 'scope=swarm', '--format', '{{.Name}}']);
    expect(ls.stdout.split('\n').sort()).toEqual(['ingress', net].sort());

    const a = `a${tag}`;
    const b = `b${tag}`;
    const runA = await daemon.docker(['run', '-d', '--name', a, '--network', net, 'busybox', 'sleep', '120']);
    expect(runA.stderr).toBe('');
    const runB = await daemon.docker(['run', '-d', '--name', b, '--network', net, 'busybox', 'sleep', '120']);
    expect(runB.stderr).toBe('');
    const ping = await daemon.docker(['exec', b, 'ping', '-c', '1', '-W', '5', a]);
    expect(ping.stderr).toBe('');
    expect(ping.stdout).toContain('1 packets received');
    const members = await daemon.docker(['network', 'inspect', '--format', '{{len .Containers}}', net]);
    expect(members.stdout).toBe('2');

    // Not attachable: only services could use it, and this engine has none.
    const closed = `closed${tag}`;
    expect((await daemon.docker(['network', 'create', '-d', 'overlay', closed])).exitCode).toBe(0);
    const refused = await daemon.docker(['run', '--rm', '--network', closed, 'busybox', 'true']);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain(`network ${closed} not manually attachable`);

    // The swarm survives a daemon restart.
    await daemon.stop();
    await daemon.launch();
    const after = await daemon.docker(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}']);
    expect(after.stdout).toBe(`active ${nodeId}`);

    const noForce = await daemon.docker(['swarm', 'leave']);
    expect(noForce.exitCode).not.toBe(0);
    expect(noForce.stderr).toContain('Removing the last manager erases all current state of the swarm.');
    const leave = await daemon.docker(['swarm', 'leave', '--force']);
    expect(leave.stderr).toBe('');
    expect(leave.stdout).toContain('Node left the swarm.');
    expect((await daemon.docker(['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout).toBe('inactive');
    // The swarm's networks went with it; containers were disconnected from them, not removed.
    const left = await daemon.docker(['network', 'ls', '--format', '{{.Name}}']);
    expect(left.stdout.split('\n')).not.toContain(net);
    expect(left.stdout.split('\n')).not.toContain('ingress');
    const nets = await daemon.docker(['inspect', '--format', '{{len .NetworkSettings.Networks}}', a]);
    expect(nets.stdout).toBe('0');
    await daemon.docker(['rm', '-f', a, b]);
  });

  it('network inspect by scope answers 404 for another scope', async () => {
    const init = await api(daemon.socketPath, 'POST', '/v1.44/swarm/init', {
      AdvertiseAddr: '127.0.0.1',
      ListenAddr: '0.0.0.0:2377',
    });
    expect(init.status).toBe(200);
    expect(JSON.parse(init.body)).toMatch(/^[a-z0-9]{25}$/);
    expect((await api(daemon.socketPath, 'GET', '/v1.44/networks/ingress?scope=swarm')).status).toBe(200);
    expect((await api(daemon.socketPath, 'GET', '/v1.44/networks/ingress?scope=local')).status).toBe(404);
    expect((await api(daemon.socketPath, 'GET', '/v1.44/networks/bridge?scope=global')).status).toBe(404);
    // Only one ingress network; once removed, another may be made.
    const second = await api(daemon.socketPath, 'POST', '/v1.44/networks/create', {
      Name: `in${tag}`,
      Driver: 'overlay',
      Ingress: true,
    });
    expect(second.status).toBe(409);
    expect(JSON.parse(second.body).message).toBe('ingress network already present');
    expect((await api(daemon.socketPath, 'DELETE', '/v1.44/networks/ingress')).status).toBe(204);
    const replaced = await api(daemon.socketPath, 'POST', '/v1.44/networks/create', {
      Name: `in${tag}`,
      Driver: 'overlay',
      Ingress: true,
    });
    expect(replaced.status).toBe(201);
    expect((await api(daemon.socketPath, 'POST', '/v1.44/swarm/leave?force=1')).status).toBe(200);
    expect((await api(daemon.socketPath, 'GET', `/v1.44/networks/in${tag}`)).status).toBe(404);
  });

  it('start-up: swarm networks without a swarm are removed; a corrupt swarm state is refused', async () => {
    expect((await daemon.docker(['swarm', 'init', '--advertise-addr', '127.0.0.1'])).exitCode).toBe(0);
    const net = `orphan${tag}`;
    expect((await daemon.docker(['network', 'create', '-d', 'overlay', net])).exitCode).toBe(0);
    const statePath = join(daemon.dataRoot, 'swarm', 'state.json');
    const state = await readFile(statePath, 'utf8');
    // As if the daemon had crashed in the middle of `swarm leave`.
    await daemon.stop();
    await rm(statePath);
    await daemon.launch();
    const names = (await daemon.docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n');
    expect(names).not.toContain(net);
    expect(names).not.toContain('ingress');
    expect((await daemon.docker(['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout).toBe('inactive');

    await daemon.stop();
    await writeFile(statePath, state.replace(/"nodeId": "[a-z0-9]+"/, '"nodeId": "not an id"'));
    await expect(daemon.launch()).rejects.toThrow(/swarm state .* is invalid/);
    await rm(statePath);
    await daemon.launch();
    expect((await daemon.docker(['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout).toBe('inactive');
  });
});

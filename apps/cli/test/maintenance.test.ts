import { readFile } from 'node:fs/promises';
import { e2eSkip, tsctrArgv, useDaemon } from '@ts-container/test-harness';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const skip = e2eSkip('update/events/prune tests');

/** The cgroup v1 memory limit of a running container, read from the host. */
async function memoryLimit(pid: string): Promise<number> {
  const line = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n').find((l) => /:memory:/.test(l));
  const path = line?.split(':')[2];
  return Number(await readFile(`/sys/fs/cgroup/memory${path}/memory.limit_in_bytes`, 'utf8'));
}

describe.skipIf(skip !== undefined)('update, events and prune', () => {
  const daemon = useDaemon();

  it('update changes the limits of a running container at once, and its restart policy', async () => {
    const name = `upd-${process.pid}`;
    expect((await daemon.tsctr(['run', '-d', '--name', name, 'busybox', 'sleep', '300'])).exitCode).toBe(0);
    expect((await daemon.tsctr(['inspect', '-f', '{{.HostConfig.Memory}}', name])).stdout).toBe('0');
    const r = await daemon.tsctr([
      'update',
      '-m',
      '64m',
      '--memory-swap',
      '128m',
      '--restart',
      'on-failure:2',
      name,
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(name);
    const pid = (await daemon.tsctr(['inspect', '-f', '{{.State.Pid}}', name])).stdout;
    expect(await memoryLimit(pid)).toBe(64 * 1024 * 1024);
    expect(
      (
        await daemon.tsctr([
          'inspect',
          '-f',
          '{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}',
          name,
        ])
      ).stdout,
    ).toBe('67108864 on-failure');
    const viaDocker = await daemon.docker(['update', '--memory', '96m', '--memory-swap', '192m', name]);
    expect(viaDocker.exitCode, viaDocker.stderr).toBe(0);
    expect(await memoryLimit(pid)).toBe(96 * 1024 * 1024);
    const bad = await daemon.tsctr(['update', '-m', '64m', 'nosuch-container']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('No such container: nosuch-container');
    await daemon.tsctr(['rm', '-f', name]);
  });

  it('events streams filtered container events, replays --since and ends at --until', async () => {
    const name = `ev-${process.pid}`;
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const live = execa(...tsctrArgv(['events', '--filter', `container=${name}`, '--filter', 'event=die']), {
      env: daemon.env,
      reject: false,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await daemon.tsctr(['run', '--name', name, 'busybox', 'sh', '-c', 'exit 3'])).exitCode).toBe(3);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const replay = await daemon.tsctr([
      'events',
      '--since',
      since,
      '--until',
      until,
      '--filter',
      `container=${name}`,
    ]);
    expect(replay.exitCode).toBe(0);
    const actions = replay.stdout.split('\n').map((l) => l.split(' ')[2]);
    expect(actions).toEqual(['create', 'start', 'die']);
    expect(replay.stdout).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z container die [0-9a-f]{64} \\(exitCode=3, image=busybox, name=${name}\\)$`,
        'm',
      ),
    );
    const docker = await daemon.docker([
      'events',
      '--since',
      since,
      '--until',
      until,
      '--filter',
      'event=die',
      '--format',
      '{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}',
    ]);
    expect(docker.stdout.split('\n')).toContain(`${name} 3`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    live.kill();
    const liveOut = (await live).stdout;
    expect(liveOut.split('\n').filter(Boolean)).toHaveLength(1);
    expect(liveOut).toContain('container die');
  });

  it('container prune and system prune remove stopped containers, unused networks and dangling images', async () => {
    const keep = `keep-${process.pid}`;
    expect((await daemon.tsctr(['run', '-d', '--name', keep, 'busybox', 'sleep', '300'])).exitCode).toBe(0);
    expect((await daemon.tsctr(['run', '--name', `gone-${process.pid}`, 'busybox', 'true'])).exitCode).toBe(
      0,
    );
    const pruned = await daemon.tsctr(['container', 'prune', '-f']);
    expect(pruned.exitCode).toBe(0);
    expect(pruned.stdout).toMatch(/^Deleted Containers:\n([0-9a-f]{64}\n)+\nTotal reclaimed space: /);
    expect((await daemon.tsctr(['ps', '-a', '--format', '{{.Names}}'])).stdout).toBe(keep);

    expect((await daemon.tsctr(['network', 'create', `unused-${process.pid}`])).exitCode).toBe(0);
    expect((await daemon.tsctr(['run', '--name', `gone2-${process.pid}`, 'busybox', 'true'])).exitCode).toBe(
      0,
    );
    const system = await daemon.tsctr(['system', 'prune', '-f']);
    expect(system.exitCode, system.stderr).toBe(0);
    expect(system.stdout).toContain('Deleted Containers:');
    expect(system.stdout).toContain(`Deleted Networks:\nunused-${process.pid}`);
    expect(system.stdout).toMatch(/Total reclaimed space: \S+$/);
    expect((await daemon.tsctr(['ps', '-a', '--format', '{{.Names}}'])).stdout).toBe(keep);
    // No confirmation, nothing removed.
    const declined = await daemon.tsctr(['container', 'prune'], { input: 'n\n' });
    expect(declined.stdout).toContain('Are you sure you want to continue? [y/N]');
    await daemon.tsctr(['rm', '-f', keep]);
  });
});

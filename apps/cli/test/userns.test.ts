import { readFile, stat } from 'node:fs/promises';
import { e2eSkip, useDaemon } from '@ts-container/test-harness';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkip('userns-remap end-to-end tests');

/** The first subordinate uid and gid of `dockremap`, which `--userns-remap default` gives out. */
async function remapStart(): Promise<{ uid: number; gid: number }> {
  const first = async (file: string) => {
    const line = (await readFile(file, 'utf8')).split('\n').find((l) => l.startsWith('dockremap:'));
    return Number(line?.split(':')[1]);
  };
  return { uid: await first('/etc/subuid'), gid: await first('/etc/subgid') };
}

describe.skipIf(skip !== undefined)('--userns-remap: container root is an unprivileged host user', () => {
  const daemon = useDaemon({ args: ['--userns-remap', 'default'], dirMode: 0o711 });
  let base: { uid: number; gid: number };
  beforeAll(async () => {
    base = await remapStart();
  });

  it('says so in info, and runs root as a host user from dockremap’s subordinate range', async () => {
    expect((await daemon.docker(['info', '--format', '{{json .SecurityOptions}}'])).stdout).toContain(
      'name=userns',
    );
    expect(base.uid).toBeGreaterThanOrEqual(100000);
    const r = await daemon.docker([
      'run',
      '--rm',
      'busybox',
      'sh',
      '-c',
      'id -u; cat /proc/self/uid_map; stat -c "%u:%g" /bin/busybox /; echo x >> /etc/passwd && touch /new && echo wrote',
    ]);
    expect(r.stderr).toBe('');
    const [uid, uidMap, binOwner, rootOwner, wrote] = r.stdout.split('\n');
    expect(uid).toBe('0');
    expect(uidMap?.trim().split(/\s+/)).toEqual(['0', String(base.uid), '65536']);
    // The image's files and `/` are root's inside, though nothing was chowned on disk.
    expect(binOwner).toBe('0:0');
    expect(rootOwner).toBe('0:0');
    expect(wrote).toBe('wrote');
    // runc takes the same mappings.
    const runc = await daemon.docker([
      'run',
      '--rm',
      '--runtime',
      'runc',
      'busybox',
      'cat',
      '/proc/self/uid_map',
    ]);
    expect(runc.stderr).toBe('');
    expect(runc.stdout.trim().split(/\s+/)).toEqual(['0', String(base.uid), '65536']);
  });

  it('stores what the container writes with host ids, and commits, copies and exports container ids', async () => {
    await daemon.tsctr([
      'run',
      '-d',
      '--name',
      'mapped',
      '-v',
      'mappedvol:/data',
      'busybox',
      'sh',
      '-c',
      'touch /made-inside /data/in-volume && chown 1000:1000 /made-inside && echo ready && sleep 300',
    ]);
    for (let i = 0; i < 100 && (await daemon.tsctr(['logs', 'mapped'])).stdout !== 'ready'; i++)
      await new Promise((r) => setTimeout(r, 50));
    const pid = Number((await daemon.tsctr(['inspect', '-f', '{{.State.Pid}}', 'mapped'])).stdout);
    // On the host, the container's processes and files belong to the subordinate ids.
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(new RegExp(`^Uid:\\s+${base.uid}\\s`, 'm'));
    const made = await stat(`/proc/${pid}/root/made-inside`);
    expect([made.uid, made.gid]).toEqual([base.uid + 1000, base.gid + 1000]);
    expect((await stat(`/proc/${pid}/root/data/in-volume`)).uid).toBe(base.uid);

    // docker cp in: the files are the container's root's (or the archive's owners' with -a).
    const cpIn = await execa(
      'sh',
      ['-c', 'echo hello > /tmp/userns-cp && docker cp /tmp/userns-cp mapped:/'],
      {
        env: { ...process.env, ...daemon.env },
        reject: false,
      },
    );
    expect(cpIn.stderr).toBe('');
    const copied = await daemon.tsctr(['exec', 'mapped', 'stat', '-c', '%u:%g', '/userns-cp']);
    expect(copied.stdout).toBe('0:0');
    expect((await stat(`/proc/${pid}/root/userns-cp`)).uid).toBe(base.uid);

    // docker cp out and export carry the ids the container sees.
    const cpOut = await execa('sh', ['-c', 'docker cp mapped:/made-inside - | tar -tv --numeric-owner'], {
      env: { ...process.env, ...daemon.env },
    });
    expect(cpOut.stdout).toMatch(/ 1000\/1000 /);
    const exported = await execa(
      'sh',
      ['-c', 'docker export mapped | tar -tv --numeric-owner | grep -E " \\./(bin/busybox|made-inside)$"'],
      { env: { ...process.env, ...daemon.env } },
    );
    expect(exported.stdout).toMatch(/ 0\/0 .* \.\/bin\/busybox/);
    expect(exported.stdout).toMatch(/ 1000\/1000 .* \.\/made-inside/);

    // A commit is an image like any other: run without the mapping, it shows the same owners.
    expect((await daemon.tsctr(['commit', 'mapped', 'mapped-image'])).exitCode).toBe(0);
    const plain = await daemon.tsctr([
      'run',
      '--rm',
      '--userns',
      'host',
      'mapped-image',
      'sh',
      '-c',
      'cat /proc/self/uid_map; stat -c "%u:%g" /made-inside /bin/busybox',
    ]);
    const [hostMap, ...owners] = plain.stdout.split('\n');
    expect(hostMap?.trim().split(/\s+/)).toEqual(['0', '0', '4294967295']);
    expect(owners).toEqual(['1000:1000', '0:0']);
    await daemon.tsctr(['rm', '-f', 'mapped']);
  });

  it('refuses what cannot share a namespace with the host unless --userns=host', async () => {
    const privileged = await daemon.tsctr(['run', '--rm', '--privileged', 'busybox', 'true']);
    expect(privileged.exitCode).toBe(125);
    expect(privileged.stderr).toContain('privileged mode is incompatible with user namespaces');
    const hostNet = await daemon.docker(['run', '--rm', '--network', 'host', 'busybox', 'true']);
    expect(hostNet.exitCode).toBe(125);
    expect(hostNet.stderr).toContain(
      "cannot share the host's network namespace when user namespaces are enabled",
    );
    const allowed = await daemon.docker([
      'run',
      '--rm',
      '--userns=host',
      '--privileged',
      'busybox',
      'id',
      '-u',
    ]);
    expect(allowed.stdout).toBe('0');
    const bad = await daemon.tsctr(['run', '--rm', '--userns=other', 'busybox', 'true']);
    expect(bad.exitCode).toBe(125);
    expect(bad.stderr).toContain('--userns: invalid USER mode');
    // The API says no too, to clients that do not check.
    await expect(
      daemon.client.request('POST', '/containers/create', {
        body: { Image: 'busybox', Cmd: ['true'], HostConfig: { UsernsMode: 'other' } },
      }),
    ).rejects.toMatchObject({ statusCode: 400, message: 'invalid userns mode: other' });
  });

  it('exec joins the container’s user namespace, and a WORKDIR made for it is its root’s', async () => {
    await daemon.tsctr(['run', '-d', '--name', 'execd', 'busybox', 'sleep', '300']);
    const r = await daemon.docker(['exec', 'execd', 'sh', '-c', 'id -u; cat /proc/self/uid_map']);
    expect(r.stdout.split('\n')[0]).toBe('0');
    expect(r.stdout.split('\n')[1]?.trim().split(/\s+/)).toEqual(['0', String(base.uid), '65536']);
    await daemon.tsctr(['rm', '-f', 'execd']);
    // A WORKDIR the daemon makes belongs to the container's root, all the way down.
    const workdir = await daemon.tsctr([
      'run',
      '--rm',
      '-w',
      '/deep/work/dir',
      'busybox',
      'sh',
      '-c',
      'stat -c "%u:%g" /deep /deep/work .; touch here && echo wrote',
    ]);
    expect(workdir.stdout).toBe('0:0\n0:0\n0:0\nwrote');
  });
  it('keeps a container’s mappings across a daemon crash and a restart without --userns-remap', async () => {
    await daemon.tsctr(['run', '-d', '--name', 'survivor', 'busybox', 'sleep', '300']);
    const uidMap = async () =>
      (await daemon.tsctr(['exec', 'survivor', 'cat', '/proc/self/uid_map'])).stdout.trim().split(/\s+/);
    await daemon.kill9();
    daemon.extraArgs = [];
    try {
      await daemon.launch();
      expect((await daemon.tsctr(['inspect', '-f', '{{.State.Running}}', 'survivor'])).stdout).toBe('true');
      expect(await uidMap()).toEqual(['0', String(base.uid), '65536']);
      // Made under the mapping, it runs under it again; new containers do not get one.
      expect((await daemon.tsctr(['restart', '-t', '0', 'survivor'])).exitCode).toBe(0);
      expect(await uidMap()).toEqual(['0', String(base.uid), '65536']);
      const fresh = await daemon.tsctr(['run', '--rm', 'busybox', 'cat', '/proc/self/uid_map']);
      expect(fresh.stdout.trim().split(/\s+/)).toEqual(['0', '0', '4294967295']);
    } finally {
      await daemon.tsctr(['rm', '-f', 'survivor']);
      await daemon.stop();
      daemon.extraArgs = ['--userns-remap', 'default'];
      await daemon.launch();
    }
  });
});

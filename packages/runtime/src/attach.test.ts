import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerRuntime } from './container-runtime.js';
import { readLogRecords } from './log-file.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('attach tests skipped: running containers needs root');
const makeRootfs = resolve(__dirname, '../../../tools/images/make-busybox-rootfs');
const ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

describe.skipIf(!isRoot)('stdin and terminals of real containers', () => {
  let dir: string;
  let rootfs: string;
  let runtime: ContainerRuntime;
  let n = 0;
  const id = () => `rt-attach-${process.pid}-${n++}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'runtime-attach-'));
    rootfs = join(dir, 'rootfs');
    execFileSync(makeRootfs, [join(dir, 'rootfs.tar'), rootfs]);
    runtime = await ContainerRuntime.open({ stateDir: join(dir, 'state') });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function output(logPath: string): Promise<string> {
    return (await readLogRecords(logPath, 0)).records.map((r) => r.text).join('');
  }

  it('delivers stdin and its EOF to the container', async () => {
    const cid = id();
    const { logPath } = await runtime.create(
      cid,
      { rootfs, args: ['sh', '-c', 'cat; echo done'], env: ENV, cgroupsPath: `/tsctr-test/${cid}` },
      { stdin: true },
    );
    try {
      await runtime.start(cid);
      await runtime.attachStdin(cid, Readable.from([Buffer.from('hello\nworld\n')]));
      const status = await runtime.wait(cid);
      expect(status.exitCode).toBe(0);
      expect(await output(logPath)).toBe('hello\nworld\ndone\n');
    } finally {
      await runtime.delete(cid);
    }
  });

  it('delivers stdin when the state directory is deeper than a unix socket address allows', async () => {
    // 108 bytes hold a socket's path: conmon's attach socket sits in the bundle, below stateDir.
    const deep = await ContainerRuntime.open({ stateDir: join(dir, 'd'.repeat(100), 'state') });
    const cid = id();
    const { logPath } = await deep.create(
      cid,
      { rootfs, args: ['sh', '-c', 'cat; echo done'], env: ENV, cgroupsPath: `/tsctr-test/${cid}` },
      { stdin: true },
    );
    try {
      await deep.start(cid);
      await deep.attachStdin(cid, Readable.from([Buffer.from('deep\n')]));
      expect((await deep.wait(cid)).exitCode).toBe(0);
      expect(await output(logPath)).toBe('deep\ndone\n');
    } finally {
      await deep.delete(cid);
    }
  });

  it('gives a terminal container a pty whose size can be changed', async () => {
    const cid = id();
    const { logPath } = await runtime.create(
      cid,
      { rootfs, args: ['sh'], env: ENV, terminal: true, cgroupsPath: `/tsctr-test/${cid}` },
      { stdin: true },
    );
    try {
      await runtime.start(cid);
      await runtime.resize(cid, 33, 121);
      const input = new PassThrough();
      const attached = runtime.attachStdin(cid, input);
      input.write('tty; stty size; exit 4\n');
      const status = await runtime.wait(cid);
      input.end();
      await attached;
      expect(status.exitCode).toBe(4);
      const text = await output(logPath);
      expect(text).toContain('/dev/pts/0');
      expect(text).toContain('33 121');
    } finally {
      await runtime.delete(cid);
    }
  });
});

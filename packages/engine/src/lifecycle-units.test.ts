import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type ContainerRecord, emptyState } from './container-store.js';
import { dockerCommandLine, shouldRestart, statusText } from './containers.js';
import { healthCommand } from './health.js';
import { DetachKeyScanner, parseDetachKeys } from './interactive.js';
import { parseLogSize, rotatedLogPaths } from './log-rotation.js';
import { parseNetDev } from './stats.js';

function record(
  over: Partial<ContainerRecord> & { policy?: { Name: string; MaximumRetryCount?: number } },
): ContainerRecord {
  const { policy, ...rest } = over;
  return {
    Id: 'c1',
    Name: '/c1',
    Created: new Date().toISOString(),
    Path: 'sh',
    Args: [],
    Config: {},
    HostConfig: policy ? { RestartPolicy: policy } : {},
    Image: 'sha256:x',
    State: emptyState(),
    RestartCount: 0,
    StoppedByUser: false,
    Driver: 'overlay',
    LogPath: '/x',
    HostnamePath: '/x',
    HostsPath: '/x',
    ResolvConfPath: '/x',
    NetworkSettings: {},
    ...rest,
  } as ContainerRecord;
}

describe('detach keys', () => {
  it("parses Docker's key format", () => {
    expect([...parseDetachKeys('ctrl-p,ctrl-q')]).toEqual([16, 17]);
    expect([...parseDetachKeys('a,ctrl-@')]).toEqual([97, 0]);
    expect(() => parseDetachKeys('ctrl-pp')).toThrow('Invalid detach keys');
  });

  it('passes input through until the sequence, which it swallows', async () => {
    const scanner = new DetachKeyScanner(parseDetachKeys('ctrl-p,ctrl-q'));
    let detached = false;
    scanner.on('detach', () => {
      detached = true;
    });
    const out: Buffer[] = [];
    scanner.on('data', (c: Buffer) => out.push(c));
    Readable.from([Buffer.from('ab\x10c'), Buffer.from('d\x10'), Buffer.from('\x11ignored')]).pipe(scanner);
    await new Promise((r) => setTimeout(r, 20));
    expect(detached).toBe(true);
    // A lone ctrl-p that is not followed by ctrl-q is ordinary input.
    expect(Buffer.concat(out).toString('latin1')).toBe('ab\x10cd');
  });
});

describe('restart policies', () => {
  const exited = (code: number) => ({ ...emptyState(), Status: 'exited' as const, ExitCode: code });
  it('follows no, always, unless-stopped and on-failure[:N]', () => {
    expect(shouldRestart(record({ State: exited(1) }))).toBe(false);
    expect(shouldRestart(record({ policy: { Name: 'always' }, State: exited(0) }))).toBe(true);
    expect(shouldRestart(record({ policy: { Name: 'unless-stopped' }, State: exited(0) }))).toBe(true);
    expect(shouldRestart(record({ policy: { Name: 'on-failure' }, State: exited(0) }))).toBe(false);
    expect(shouldRestart(record({ policy: { Name: 'on-failure' }, State: exited(2) }))).toBe(true);
    const max = { Name: 'on-failure', MaximumRetryCount: 2 };
    expect(shouldRestart(record({ policy: max, State: exited(2), RestartCount: 1 }))).toBe(true);
    expect(shouldRestart(record({ policy: max, State: exited(2), RestartCount: 2 }))).toBe(false);
  });
  it('never restarts a container its user stopped', () => {
    expect(shouldRestart(record({ policy: { Name: 'always' }, State: exited(0), StoppedByUser: true }))).toBe(
      false,
    );
  });
});

describe('health', () => {
  it('turns HEALTHCHECK tests into commands', () => {
    expect(healthCommand({ Test: ['CMD-SHELL', 'curl -f localhost'] })).toEqual([
      '/bin/sh',
      '-c',
      'curl -f localhost',
    ]);
    expect(healthCommand({ Test: ['CMD', 'true'] })).toEqual(['true']);
    expect(healthCommand({ Test: ['NONE'] })).toBeUndefined();
    expect(healthCommand(undefined)).toBeUndefined();
  });
  it('shows the health in the ps status', () => {
    const c = record({
      State: {
        ...emptyState(),
        Status: 'running',
        Running: true,
        StartedAt: new Date(Date.now() - 5000).toISOString(),
        Health: { Status: 'healthy', FailingStreak: 0, Log: [] },
      },
    });
    expect(statusText(c)).toBe('Up 5 seconds (healthy)');
    c.State.Health!.Status = 'starting';
    expect(statusText(c)).toBe('Up 5 seconds (health: starting)');
  });
});

describe('logs and stats helpers', () => {
  it('parses --log-opt max-size and names rotated files', () => {
    expect(parseLogSize('10k')).toBe(10240);
    expect(parseLogSize('20m')).toBe(20 * 1024 * 1024);
    expect(parseLogSize('123')).toBe(123);
    expect(() => parseLogSize('ten')).toThrow('invalid value for max-size');
    expect(rotatedLogPaths('/l', 3)).toEqual(['/l.2', '/l.1']);
  });
  it('reads /proc/<pid>/net/dev without lo', () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    1296      16    0    0    0     0          0         0      426       5    0    0    0     0       0          0`;
    expect(parseNetDev(text)).toEqual({
      eth0: {
        rx_bytes: 1296,
        rx_packets: 16,
        rx_errors: 0,
        rx_dropped: 0,
        tx_bytes: 426,
        tx_packets: 5,
        tx_errors: 0,
        tx_dropped: 0,
      },
    });
  });
});

describe('container list command line', () => {
  it("quotes arguments with spaces in single quotes, as Docker's daemon does", () => {
    expect(dockerCommandLine('sh', ['-c', 'echo "a b"; sleep 1'])).toBe(`sh -c 'echo "a b"; sleep 1'`);
    expect(dockerCommandLine('/docker-entrypoint.sh', [])).toBe('/docker-entrypoint.sh');
  });
});

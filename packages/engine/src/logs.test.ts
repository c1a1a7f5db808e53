import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LogRecord, formatJsonLogLine } from '@ts-container/runtime';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { followLog, tailLog } from './logs.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tail-log-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const record = (i: number, text = `line ${i} ✓\n`): LogRecord => ({
  time: new Date(Date.UTC(2026, 11, 5, 0, 0, 0, i)).toISOString(),
  stream: i % 3 === 0 ? 'stderr' : 'stdout',
  text,
});

async function logFiles(counts: number[], textOf?: (i: number) => string): Promise<string[]> {
  const paths: string[] = [];
  let i = 0;
  for (const [f, count] of counts.entries()) {
    const path = join(dir, `${paths.length}-${f}-${Math.random()}.log`);
    let body = '';
    for (let k = 0; k < count; k++, i++) body += formatJsonLogLine(record(i, textOf?.(i)));
    await writeFile(path, body);
    paths.push(path);
  }
  return paths;
}

/** What reading everything and keeping the last n gives: the reference. */
async function lastByFullRead(paths: string[], n: number, wanted: (r: LogRecord) => boolean) {
  const all: LogRecord[] = [];
  for (const p of paths) for await (const r of followLog(p, { from: 0 })) if (wanted(r)) all.push(r);
  return all.slice(Math.max(0, all.length - n));
}

describe('tailLog', () => {
  const any = () => true;
  const stdoutOnly = (r: LogRecord) => r.stream === 'stdout';

  it('gives the last n records across chunks and rotated files, as a full read does', async () => {
    const paths = await logFiles([3000, 0, 5000]);
    for (const n of [0, 1, 10, 2999, 5000, 5001, 7999, 8000, 100000])
      for (const wanted of [any, stdoutOnly])
        expect(await tailLog(paths, n, wanted)).toEqual(await lastByFullRead(paths, n, wanted));
  });

  it('keeps records longer than a chunk and multi-byte text whole', async () => {
    const paths = await logFiles([40], (i) => (i % 7 === 0 ? `${'ü'.repeat(70_000)}\n` : `short ${i}\n`));
    for (const n of [1, 5, 39, 40, 41])
      expect(await tailLog(paths, n, any)).toEqual(await lastByFullRead(paths, n, any));
  });

  it('skips files that are not there (not rotated that far)', async () => {
    const [path] = await logFiles([5]);
    expect(await tailLog([join(dir, 'missing.log'), path as string], 2, any)).toHaveLength(2);
  });
});

describe('followLog', () => {
  it('ends once the container stops during a read, without waiting for the poll timer', async () => {
    const path = join(dir, `follow-${Math.random()}.log`);
    await writeFile(path, '');
    // With the timers frozen, only the stop itself can end the follow.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      let stop!: () => void;
      const until = new Promise<void>((resolve) => {
        stop = resolve;
      });
      const follow = followLog(path, { from: 0, until });
      const first = follow.next(); // runs up to its first read of the (empty) log
      stop(); // heard while that read is under way
      expect(await first).toEqual({ done: true, value: undefined });
    } finally {
      vi.useRealTimers();
    }
  });
});

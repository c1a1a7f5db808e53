import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerRecord } from './container-store.js';
import { LogShipper, monitorLogPath } from './log-shipper.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function containerWithSpool(lines: string[]): Promise<ContainerRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'log-shipper-'));
  dirs.push(dir);
  const c = {
    Id: 'c'.repeat(64),
    LogPath: join(dir, 'c-json.log'),
    HostConfig: {},
  } as unknown as ContainerRecord;
  const time = '2026-12-05T00:00:00.000000000Z';
  await writeFile(monitorLogPath(c), lines.map((l) => `${time} stdout F ${l}\n`).join(''));
  return c;
}

const shippedLines = async (c: ContainerRecord) =>
  (await readFile(c.LogPath, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { log: string }).log);

describe('LogShipper', () => {
  const warnings: string[] = [];
  const shipper = () => new LogShipper({ warn: (m) => warnings.push(m) }, async () => {});

  it('ships each record of the spool once', async () => {
    const c = await containerWithSpool(['.', '..', 'file.txt']);
    const s = shipper();
    expect(await s.ship(c)).toBe(true);
    expect(await s.ship(c)).toBe(true);
    expect(await shippedLines(c)).toEqual(['.\n', '..\n', 'file.txt\n']);
    await s.finish(c);
  });

  // A `docker logs` right after a short-lived container ended: its ship lands while the exit's
  // finish() closes and removes the spool; the records must still be there exactly once.
  it('a ship racing the end of the container neither repeats nor loses records', async () => {
    for (let round = 0; round < 100; round++) {
      const c = await containerWithSpool(['.', '..', 'file.txt', 'hello']);
      const s = shipper();
      const finished = s.finish(c);
      const shipped = s.ship(c);
      await Promise.all([finished, shipped]);
      expect(await shippedLines(c)).toEqual(['.\n', '..\n', 'file.txt\n', 'hello\n']);
    }
    expect(warnings).toEqual([]);
  });

  // After the end of a run `logs` has nothing to ship; the next run's spool is shipped again.
  it('ships the spool of the next run after a finished one', async () => {
    const c = await containerWithSpool(['first run']);
    const s = shipper();
    await s.finish(c);
    expect(await s.ship(c)).toBe(true);
    expect(await shippedLines(c)).toEqual(['first run\n']);
    await s.reset(c);
    await writeFile(monitorLogPath(c), '2026-12-05T00:00:01.000000000Z stdout F second run\n');
    expect(await s.ship(c)).toBe(true);
    expect(await shippedLines(c)).toEqual(['first run\n', 'second run\n']);
    await s.finish(c);
    expect(warnings).toEqual([]);
  });
});

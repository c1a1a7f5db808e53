import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContainerOutput, type ContainerOutputDeps } from './container-output.js';
import type { ContainerRecord } from './container-store.js';

/** `logs --follow` of a container whose run ends around the call (docker-py's `containers.run`). */
describe('ContainerOutput.logs with follow', () => {
  let dir: string;
  let logPath: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'engine-output-'));
    logPath = join(dir, 'container.log');
    await writeFile(
      logPath,
      `${JSON.stringify({ log: 'hello\n', stream: 'stdout', time: new Date().toISOString() })}\n`,
    );
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const setup = (running: boolean, onShip: (events: EventEmitter, record: ContainerRecord) => void) => {
    const events = new EventEmitter();
    const record = {
      Id: 'c1',
      LogPath: logPath,
      HostConfig: {},
      State: { Running: running, Status: running ? 'running' : 'exited', ExitCode: 0 },
    } as unknown as ContainerRecord;
    const deps: ContainerOutputDeps = {
      store: { get: () => record },
      logShipper: {
        ship: async () => {
          onShip(events, record);
          return true;
        },
      },
      lifecycle: { events } as unknown as ContainerOutputDeps['lifecycle'],
    };
    return { output: new ContainerOutput(deps), events };
  };
  const options = { stdout: true, stderr: true, follow: true, tail: 'all' as const };

  it('ends when the run ends while the log is being read, with what was written', async () => {
    let watchedBeforeReading = false;
    const { output, events } = setup(true, (emitter, record) => {
      // Watched from the moment it was seen running: no await in between, where a run that
      // ends (here, while its log is read) would go unseen and leave the follow waiting.
      watchedBeforeReading = emitter.listenerCount('die') === 1;
      record.State.Running = false;
      emitter.emit('die', record);
    });
    const lines: string[] = [];
    for await (const r of output.logs('c1', options)) lines.push(r.text);
    expect(watchedBeforeReading).toBe(true);
    expect(lines).toEqual(['hello\n']);
    expect(events.listenerCount('die')).toBe(0);
  });

  it('ends at once for a container that is not running, watching nothing', async () => {
    const { output, events } = setup(false, () => {});
    const lines: string[] = [];
    for await (const r of output.logs('c1', options)) lines.push(r.text);
    expect(lines).toEqual(['hello\n']);
    expect(events.listenerCount('die')).toBe(0);
  });
});

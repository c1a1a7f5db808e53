import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineClient } from '@ts-container/api';
import { afterAll, describe, expect, it } from 'vitest';
import { GROUPS, findCommand, loadCommands } from './cli.js';
import { completeWords } from './commands/completion.js';

/** A client whose answers are the test's: completion only lists objects. */
class FakeClient extends EngineClient {
  constructor() {
    super('/nonexistent.sock');
  }
  override async request<T>(_method: string, path: string): Promise<T> {
    const answers: Record<string, unknown> = {
      '/containers/json': [{ Names: ['/web-1'] }, { Names: ['/web-2'] }, { Names: ['/db'] }],
      '/images/json': [{ RepoTags: ['busybox:latest', '<none>:<none>'] }, { RepoTags: null }],
      '/networks': [{ Name: 'bridge' }, { Name: 'backend' }],
      '/volumes': { Volumes: [{ Name: 'data' }] },
    };
    return answers[path] as T;
  }
}

const commands = await loadCommands();
const options = {
  client: new FakeClient(),
  program: 'tsctr',
  configDir: mkdtempSync(join(tmpdir(), 'completion-')),
  globalFlags: [],
  commands,
  groups: GROUPS,
  findCommand: (words: string[]) => findCommand(words, commands),
};
afterAll(() => rmSync(options.configDir, { recursive: true, force: true }));

describe('completion candidates', () => {
  it('completes commands, groups and subcommands', async () => {
    expect(await completeWords(['vo'], options)).toEqual(['volume']);
    expect(await completeWords(['container', 'st'], options)).toEqual(['start', 'stats', 'stop']);
  });

  it('completes object names from the daemon where a command takes them', async () => {
    expect(await completeWords(['stop', 'web'], options)).toEqual(['web-1', 'web-2']);
    expect(await completeWords(['container', 'rm', '-f', 'd'], options)).toEqual(['db']);
    expect(await completeWords(['rmi', ''], options)).toEqual(['busybox:latest']);
    expect(await completeWords(['network', 'connect', 'b'], options)).toEqual(['backend', 'bridge']);
    expect(await completeWords(['network', 'connect', 'backend', 'w'], options)).toEqual(['web-1', 'web-2']);
    expect(await completeWords(['run', '--network', 'ba'], options)).toEqual(['backend']);
    expect(await completeWords(['volume', 'rm', ''], options)).toEqual(['data']);
    expect(await completeWords(['context', 'use', ''], options)).toEqual(['default']);
    // run: after the image come the container's own words.
    expect(await completeWords(['run', 'busybox', 'w'], options)).toEqual([]);
  });

  it('completes flags', async () => {
    expect(await completeWords(['ps', '--fo'], options)).toEqual(['--format']);
    expect(await completeWords(['logs', '--time'], options)).toEqual(['--timestamps']);
  });
});

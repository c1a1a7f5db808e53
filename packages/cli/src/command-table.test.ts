import { describe, expect, it } from 'vitest';
import { COMMAND_TABLE, findEntry, loadCommands } from './command-table.js';

describe('the command table', () => {
  it('names each command of the modules it loads, with its aliases, once', async () => {
    const commands = await loadCommands();
    expect(commands.map((c) => [c.name, c.aliases ?? []])).toEqual(
      COMMAND_TABLE.map((e) => [e.name, e.aliases]),
    );
    const modules = new Set(COMMAND_TABLE.map((e) => e.load));
    const all = (await Promise.all([...modules].map((load) => load()))).flat();
    expect(all.map((c) => c.name).sort()).toEqual(COMMAND_TABLE.map((e) => e.name).sort());
  });

  it('finds one- and two-word forms before loading them', () => {
    expect(findEntry(['container', 'ls', '-a'])).toMatchObject({ entry: { name: 'ps' }, consumed: 2 });
    expect(findEntry(['container', 'start', 'x'])).toMatchObject({ entry: { name: 'start' }, consumed: 2 });
    expect(findEntry(['image', 'pull', 'x'])).toMatchObject({ entry: { name: 'pull' }, consumed: 2 });
    expect(findEntry(['image', 'start'])).toBeUndefined();
    expect(findEntry(['ps', '-a'])).toMatchObject({ entry: { name: 'ps' }, consumed: 1 });
  });
});

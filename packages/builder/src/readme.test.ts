import { describe, expect, it } from 'vitest';
import { expandWord, parseDockerfile, parseInstructions, planBuild } from './index.js';

// The README's "Parsing and expansion on their own" example, kept runnable.
describe('README example', () => {
  it('parses, expands and plans', () => {
    const parsed = parseDockerfile('FROM busybox AS base\nRUN echo hi\n');
    expect(parsed.nodes[1]).toMatchObject({
      instruction: 'run',
      args: ['echo hi'],
      json: false,
      startLine: 2,
    });
    expect(parseInstructions(parsed)).toMatchObject([
      { kind: 'FROM', image: 'busybox', stageName: 'base' },
      { kind: 'RUN' },
    ]);
    expect(expandWord('${HOME:-/root}/bin', { HOME: '/home/me' })).toBe('/home/me/bin');
    expect(planBuild(parsed, { buildArgs: { X: '1' } }).unusedBuildArgs).toEqual(['X']);
  });
});

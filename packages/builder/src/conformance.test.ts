import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  type DockerfileNode,
  detectDirective,
  expandWordWithMatches,
  expandWords,
  parseDirectives,
  parseDockerfile,
  parseInstructions,
} from './index.js';

/**
 * BuildKit's parser and shell-expansion test data (vendored in src/conformance/cases.json, see
 * vendor.mjs), compared the way /work/shared/conformance/dockerfile-parser/run.mjs compares them,
 * with every optional field (json, heredocs, lines, matches).
 */

interface Case {
  name: string;
  category: string;
  kind: 'parse' | 'shell' | 'directives';
  [k: string]: unknown;
}

const { cases } = JSON.parse(readFileSync(new URL('./conformance/cases.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

function neutral(node: DockerfileNode, lines: boolean): Record<string, unknown> {
  return {
    instruction: node.instruction,
    flags: node.flags,
    args: node.args,
    ...(node.sub ? { sub: neutral(node.sub, false) } : {}),
    json: node.json,
    ...(node.heredocs.length ? { heredocs: node.heredocs } : {}),
    ...(lines ? { startLine: node.startLine, endLine: node.endLine } : {}),
  };
}

function compare(want: Record<string, unknown>, got: Record<string, unknown>): string | null {
  for (const k of ['instruction', 'flags', 'args', 'json'] as const) {
    if (!isDeepStrictEqual(got[k], want[k]))
      return `${k}: ${JSON.stringify(got[k])} != ${JSON.stringify(want[k])}`;
  }
  if (want.sub || got.sub) {
    if (!want.sub || !got.sub) return 'sub differs';
    const r = compare(want.sub as Record<string, unknown>, got.sub as Record<string, unknown>);
    if (r) return `sub ${r}`;
  }
  if (!isDeepStrictEqual(got.heredocs ?? [], want.heredocs ?? [])) return 'heredocs differ';
  if (want.startLine !== undefined && (got.startLine !== want.startLine || got.endLine !== want.endLine)) {
    return `lines ${got.startLine}-${got.endLine} != ${want.startLine}-${want.endLine}`;
  }
  return null;
}

function runParse(c: Case): string | null {
  let got: Record<string, unknown>[];
  try {
    got = parseDockerfile(c.dockerfile as string).nodes.map((n) => neutral(n, true));
  } catch (e) {
    if (c.expectError || c.instructionError) return null;
    return `threw ${(e as Error).message}`;
  }
  if (c.expectError) return 'accepted, expected an error';
  const expect = c.expect as Record<string, unknown>[];
  if (got.length !== expect.length) return `${got.length} instructions, expected ${expect.length}`;
  for (let i = 0; i < expect.length; i++) {
    const r = compare(expect[i]!, got[i]!);
    if (r) return `#${i + 1}: ${r}`;
  }
  const instructionError = c.instructionError as { errorContains: string } | undefined;
  if (instructionError) {
    try {
      parseInstructions(parseDockerfile(c.dockerfile as string));
    } catch (e) {
      const msg = (e as Error).message;
      return msg.includes(instructionError.errorContains) ? null : `message ${msg}`;
    }
    return 'instruction layer accepted it';
  }
  return null;
}

function runShell(c: Case): string | null | 'skip' {
  if (c.platform === 'windows') return 'skip';
  const env = c.env as Record<string, string>;
  const opts = { escapeToken: c.escapeToken as string };
  let value: unknown;
  let matched: string[] | undefined;
  let unmatched: string[] | undefined;
  try {
    if (c.mode === 'words') value = expandWords(c.input as string, env, opts);
    else {
      const r = expandWordWithMatches(c.input as string, env, opts);
      value = r.result;
      matched = [...r.matched].sort();
      unmatched = [...r.unmatched].sort();
    }
  } catch (e) {
    return c.expectError ? null : `threw ${(e as Error).message}`;
  }
  if (c.expectError) return `returned ${JSON.stringify(value)}, expected an error`;
  if (!isDeepStrictEqual(value, c.expected)) return `got ${JSON.stringify(value)}`;
  if (c.matched && (!isDeepStrictEqual(matched, c.matched) || !isDeepStrictEqual(unmatched, c.unmatched))) {
    return `matched ${JSON.stringify(matched)} unmatched ${JSON.stringify(unmatched)}`;
  }
  return null;
}

function runDirective(c: Case): string | null {
  if (c.fn === 'directives') {
    const got = parseDirectives(c.text as string).map(({ name, value }) => ({ name, value }));
    return isDeepStrictEqual(got, c.expected) ? null : `got ${JSON.stringify(got)}`;
  }
  const got = detectDirective(c.text as string, c.key as string, { anyFormat: c.anyFormat as boolean });
  for (const [k, v] of Object.entries(c.expected as Record<string, unknown>)) {
    if (!isDeepStrictEqual((got as unknown as Record<string, unknown>)[k], v))
      return `${k}: ${JSON.stringify(got)}`;
  }
  return null;
}

const outcomes = cases.map((c) => {
  const why = c.kind === 'parse' ? runParse(c) : c.kind === 'shell' ? runShell(c) : runDirective(c);
  return { c, why };
});

describe('BuildKit conformance cases', () => {
  const categories = [...new Set(cases.map((c) => c.category))].sort();
  for (const category of categories) {
    it(`${category}: every case passes`, () => {
      const mine = outcomes.filter((o) => o.c.category === category && o.why !== 'skip');
      const failures = mine.filter((o) => o.why !== null).map((o) => `${o.c.name}: ${o.why}`);
      expect(mine.length).toBeGreaterThan(0);
      expect(failures).toEqual([]);
    });
  }

  it('passes at least 95% of all cases (866 run, 2 Windows-only skipped)', () => {
    const run = outcomes.filter((o) => o.why !== 'skip');
    const passed = run.filter((o) => o.why === null).length;
    expect(run.length).toBe(866);
    expect(passed / run.length).toBeGreaterThanOrEqual(0.95);
  });
});

// Adapter for the Dockerfile parser conformance suite (/work/shared/conformance/dockerfile-parser).
// Usage, from the repository root after `pnpm --filter @ts-container/builder build`:
//   node ../shared/conformance/dockerfile-parser/run.mjs packages/builder/src/conformance/adapter.mjs --details 5
// PARSER_MODULE may point at another build of the package (default: this package's dist).
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const spec = process.env.PARSER_MODULE ?? fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const lib = await import(
  spec.startsWith('.') || spec.startsWith('/') ? pathToFileURL(resolve(spec)).href : spec
);

export const supports = ['json', 'heredocs', 'lines', 'matches'];

function toNeutral(node, withLines) {
  return {
    instruction: node.instruction,
    flags: node.flags,
    args: node.args,
    ...(node.sub ? { sub: toNeutral(node.sub, false) } : {}),
    json: node.json,
    ...(node.heredocs.length ? { heredocs: node.heredocs } : {}),
    ...(withLines ? { startLine: node.startLine, endLine: node.endLine } : {}),
  };
}

export function parse(text) {
  return lib.parseDockerfile(text).nodes.map((n) => toNeutral(n, true));
}

export function expandWord(input, env, { mode, escapeToken }) {
  if (mode === 'words') return lib.expandWords(input, env, { escapeToken });
  return lib.expandWordWithMatches(input, env, { escapeToken });
}

export function directives(text) {
  return lib.parseDirectives(text).map(({ name, value }) => ({ name, value }));
}

export function detectDirective(text, key, { anyFormat }) {
  return lib.detectDirective(text, key, { anyFormat });
}

export function validate(text) {
  lib.parseInstructions(lib.parseDockerfile(text));
}

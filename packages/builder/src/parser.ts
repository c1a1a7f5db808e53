import {
  type DockerfileNode,
  type Heredoc,
  dialectFor,
  isSpace,
  nodeFromLine,
  trimContinuation,
} from './arguments.js';
import { type ParserDirective, parseDirectives, splitLines } from './directives.js';
import { DockerfileParseError } from './errors.js';

export { type DockerfileNode, extractFlags, type Heredoc, parseWords } from './arguments.js';
export {
  type DetectedDirective,
  type ParserDirective,
  detectDirective,
  parseDirectives,
} from './directives.js';

/**
 * The Dockerfile syntax layer: lines, continuations, comments, parser directives, heredocs,
 * flags and the per-instruction argument split. Its output is the same tree BuildKit's parser
 * produces (instruction, flags, arguments), which the instruction layer (instructions.ts)
 * turns into typed instructions. Written from Docker's Dockerfile reference and checked against
 * BuildKit's parser test data (src/conformance.test.ts).
 */

export interface ParseWarning {
  line: number;
  message: string;
}

export interface ParsedDockerfile {
  nodes: DockerfileNode[];
  directives: ParserDirective[];
  escapeToken: string;
  warnings: ParseWarning[];
}

const HEREDOC_INSTRUCTIONS = new Set(['add', 'copy', 'run']);

const trimLeft = (s: string): string => s.replace(/^[ \t\v\f\r\n]+/, '');
const isCommentLine = (s: string): boolean => trimLeft(s).startsWith('#');

function canContainHeredoc(node: DockerfileNode): boolean {
  const target = node.instruction === 'onbuild' && node.sub ? node.sub : node;
  return HEREDOC_INSTRUCTIONS.has(target.instruction) && !target.json;
}

/** Words of a line with quotes and escapes kept (for finding heredoc markers). */
function rawWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let started = false;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote !== undefined) {
      word += ch;
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      continue;
    }
    if (isSpace(ch)) {
      if (started) words.push(word);
      word = '';
      started = false;
      continue;
    }
    started = true;
    word += ch;
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '\\' && i + 1 < line.length) word += line[++i];
  }
  if (started) words.push(word);
  return words;
}

/** Removes quotes and escapes from a heredoc marker; reports whether any part was quoted. */
function unquoteMarker(word: string): { name: string; quoted: boolean } {
  let name = '';
  let quoted = false;
  let quote: string | undefined;
  for (let i = 0; i < word.length; i++) {
    const ch = word[i]!;
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < word.length && '"$\\'.includes(word[i + 1]!))
        name += word[++i];
      else name += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      quoted = true;
    } else if (ch === '\\') {
      if (i + 1 < word.length) name += word[++i];
    } else name += ch;
  }
  return { name, quoted };
}

const HEREDOC_RE = /^(\d*)<<(-?)([^<]*)$/;

function heredocMarkers(line: string): Omit<Heredoc, 'content'>[] {
  const words = rawWords(line);
  const found: Omit<Heredoc, 'content'>[] = [];
  for (let i = 0; i < words.length; i++) {
    const m = HEREDOC_RE.exec(words[i]!);
    if (!m) continue;
    let rest = m[3]!;
    // `<<  EOF`: the marker may be the next word.
    if (rest === '') {
      if (i + 1 >= words.length) continue;
      rest = words[++i]!;
      if (rest.includes('<')) continue;
    }
    const { name, quoted } = unquoteMarker(rest);
    if (name === '') continue;
    found.push({ name, expand: !quoted, chomp: m[2] === '-', fileDescriptor: m[1] ? Number(m[1]) : 0 });
  }
  return found;
}

export interface ParseOptions {
  /** Called for each warning too (they are also returned). */
  onWarning?: (warning: ParseWarning) => void;
}

/**
 * Parses a Dockerfile into its syntax tree. Throws {@link DockerfileParseError} for text
 * BuildKit's parser rejects (no instructions, bad JSON arrays, `ENV name` without value,
 * unterminated heredocs, bad directives). Instruction-level checks (unknown instruction,
 * argument counts, flags) are done by `parseInstructions`.
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): ParsedDockerfile {
  const directives = parseDirectives(text);
  const escapeDirective = directives.find((x) => x.name === 'escape');
  const escapeChar = escapeDirective?.value ?? '\\';
  if (escapeChar !== '\\' && escapeChar !== '`') {
    throw new DockerfileParseError(`invalid ESCAPE '${escapeChar}'. Must be \` or \\`, escapeDirective?.line);
  }
  const d = dialectFor(escapeChar);
  const lines = splitLines(text);
  const nodes: DockerfileNode[] = [];
  const warnings: ParseWarning[] = [];
  let i = 0;
  while (i < lines.length) {
    const startLine = i + 1;
    const first = trimLeft(lines[i++]!);
    let [line, eol] = trimContinuation(isCommentLine(first) ? '' : first, d);
    if (eol && line === '') continue;
    let emptyContinuation = false;
    while (!eol && i < lines.length) {
      const raw = lines[i++]!;
      if (isCommentLine(raw)) continue;
      if (trimLeft(raw) === '') {
        emptyContinuation = true;
        continue;
      }
      const [part, end] = trimContinuation(raw, d);
      line += part;
      eol = end;
    }
    if (emptyContinuation) {
      const warning = { line: startLine, message: `Empty continuation line found in: ${line}` };
      warnings.push(warning);
      options.onWarning?.(warning);
    }
    const node = nodeFromLine(line, d, startLine, i);
    if (canContainHeredoc(node) && line.includes('<<')) {
      for (const marker of heredocMarkers(line)) {
        let content = '';
        let terminated = false;
        while (i < lines.length) {
          const raw = lines[i++]!;
          const candidate = marker.chomp ? raw.replace(/^\t+/, '') : raw;
          if (candidate === marker.name) {
            terminated = true;
            break;
          }
          content += `${raw}\n`;
        }
        if (!terminated) throw new DockerfileParseError(`unterminated heredoc ${marker.name}`, startLine);
        node.heredocs.push({ ...marker, content });
      }
      node.endLine = i;
    }
    nodes.push(node);
  }
  if (nodes.length === 0) throw new DockerfileParseError('file with no instructions');
  return { nodes, directives, escapeToken: escapeChar, warnings };
}

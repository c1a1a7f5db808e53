import { DockerfileParseError } from './errors.js';

/**
 * The Dockerfile syntax layer: lines, continuations, comments, parser directives, heredocs,
 * flags and the per-instruction argument split. Its output is the same tree BuildKit's parser
 * produces (instruction, flags, arguments), which the instruction layer (instructions.ts)
 * turns into typed instructions. Written from Docker's Dockerfile reference and checked against
 * BuildKit's parser test data (test/conformance.test.ts).
 */

export interface Heredoc {
  /** The terminator word, quotes removed. */
  name: string;
  /** The body lines, each with its newline; leading tabs are not stripped even when `chomp`. */
  content: string;
  /** False when any part of the marker was quoted (`<<'EOF'`): no variable expansion in the body. */
  expand: boolean;
  /** `<<-EOF`: leading tabs are stripped from the body when it is used. */
  chomp: boolean;
  /** The number before `<<` (`3<<EOF`), 0 when none. */
  fileDescriptor: number;
}

export interface DockerfileNode {
  /** The keyword as written (`froM`). */
  keyword: string;
  /** The keyword lower-cased (`from`). */
  instruction: string;
  /** Leading `--name=value` words, quotes and escapes removed. */
  flags: string[];
  /** The arguments, split the way the instruction's form requires. */
  args: string[];
  /** The arguments came from a JSON array (exec form). */
  json: boolean;
  heredocs: Heredoc[];
  /** ONBUILD's trigger instruction. */
  sub?: DockerfileNode;
  /** The logical line (continuations joined), without the heredoc bodies. */
  original: string;
  /** 1-based physical lines, continuation lines and heredoc bodies included. */
  startLine: number;
  endLine: number;
}

export interface ParserDirective {
  /** Lower-cased: `syntax`, `escape` or `check`. */
  name: string;
  value: string;
  line: number;
}

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

const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const DIRECTIVE_RE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const SLASH_DIRECTIVE_RE = /^\/\/[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
// BuildKit splits the keyword and list-form arguments on these (not on all Unicode space).
const WS_RE = /[\t\v\f\r ]+/;
const HEREDOC_INSTRUCTIONS = new Set(['add', 'copy', 'run']);

const isSpace = (ch: string | undefined): boolean => ch !== undefined && /^\s$/u.test(ch);

function splitLines(text: string): string[] {
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

const trimLeft = (s: string): string => s.replace(/^[ \t\v\f\r\n]+/, '');
const isCommentLine = (s: string): boolean => trimLeft(s).startsWith('#');

/**
 * Reads the parser directives at the top of a file (`# escape=`, `# syntax=`, `# check=`).
 * Scanning stops at the first line that is not a known directive; a `#!` first line is skipped.
 */
export function parseDirectives(text: string): ParserDirective[] {
  const lines = splitLines(text);
  const found: ParserDirective[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (i === 0 && line.startsWith('#!')) continue;
    const m = DIRECTIVE_RE.exec(line);
    if (!m) break;
    const name = m[1]!.toLowerCase();
    if (!KNOWN_DIRECTIVES.has(name)) break;
    if (found.some((d) => d.name === name)) {
      throw new DockerfileParseError(`only one ${name} parser directive can be used`, i + 1);
    }
    found.push({ name, value: m[2]!, line: i + 1 });
  }
  return found;
}

export interface DetectedDirective {
  ok: boolean;
  /** The value up to the first space (`docker/dockerfile:1`). */
  ref: string;
  /** The whole value. */
  cmdline: string;
  line: number;
}

/**
 * Finds one directive (`syntax` normally) the way BuildKit's front-end selection does. With
 * `anyFormat`, `//key=value` lines and a whole-file JSON object are accepted too.
 */
export function detectDirective(
  text: string,
  key: string,
  options: { anyFormat?: boolean } = {},
): DetectedDirective {
  const none: DetectedDirective = { ok: false, ref: '', cmdline: '', line: 0 };
  const want = key.toLowerCase();
  const scan = (re: RegExp): DetectedDirective | undefined => {
    const lines = splitLines(text);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (i === 0 && line.startsWith('#!')) continue;
      const m = re.exec(line);
      if (!m) return undefined;
      if (m[1]!.toLowerCase() === want) {
        const cmdline = m[2]!;
        return { ok: true, ref: cmdline.split(/[ \t]/)[0]!, cmdline, line: i + 1 };
      }
    }
    return undefined;
  };
  const hash = scan(DIRECTIVE_RE);
  if (hash) return hash;
  if (!options.anyFormat) return none;
  const slash = scan(SLASH_DIRECTIVE_RE);
  if (slash) return slash;
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (body.trimStart().startsWith('{')) {
    try {
      const obj: unknown = JSON.parse(body);
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        const value = (obj as Record<string, unknown>)[want];
        if (typeof value === 'string') {
          return { ok: true, ref: value.split(/[ \t]/)[0]!, cmdline: value, line: 1 };
        }
      }
    } catch {
      // not JSON: no directive
    }
  }
  return none;
}

interface Dialect {
  escapeChar: string;
  continuation: RegExp;
}

function dialectFor(escapeChar: string): Dialect {
  const e = escapeChar === '`' ? '`' : '\\\\';
  // The escape character at the end of a line continues it, unless it is itself escaped.
  return { escapeChar, continuation: new RegExp(`(^|[^${e}])${e}[ \\t]*$`) };
}

function trimContinuation(line: string, d: Dialect): [string, boolean] {
  const m = d.continuation.exec(line);
  if (!m) return [line, true];
  return [line.slice(0, m.index) + m[1]!, false];
}

/** BuildKit's flag extraction: leading `--` words, quotes and escapes removed; `--` ends them. */
export function extractFlags(rest: string): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let pos = 0;
  const n = rest.length;
  for (;;) {
    while (pos < n && isSpace(rest[pos])) pos++;
    if (pos >= n) return { flags, rest: '' };
    if (!rest.startsWith('--', pos)) return { flags, rest: rest.slice(pos) };
    let word = '';
    let quote: string | undefined;
    while (pos < n) {
      const ch = rest[pos]!;
      if (quote === undefined && isSpace(ch)) break;
      pos++;
      if (quote !== undefined) {
        if (ch === quote) {
          quote = undefined;
          continue;
        }
        if (ch === '\\' && quote === '"' && pos < n) {
          word += rest[pos++];
          continue;
        }
        word += ch;
        continue;
      }
      if (ch === '"' || ch === "'") {
        quote = ch;
        continue;
      }
      if (ch === '\\') {
        if (pos < n) word += rest[pos++];
        continue;
      }
      word += ch;
    }
    if (word === '--') return { flags, rest: rest.slice(pos) };
    flags.push(word);
  }
}

/**
 * Quote-aware words: split on unquoted whitespace, quotes and escape characters are kept.
 * Used for ARG, ENV and LABEL.
 */
export function parseWords(rest: string, escapeChar = '\\'): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  let blankOK = false;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (!inWord) {
      if (isSpace(ch)) continue;
      inWord = true;
    }
    if (quote === undefined) {
      if (isSpace(ch)) {
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        inWord = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
      } else if (ch === escapeChar) {
        // A trailing escape character is dropped; otherwise it and the next character stay.
        if (i + 1 === chars.length) continue;
        word += ch;
        word += chars[++i];
        continue;
      }
      word += ch;
      continue;
    }
    if (ch === quote) quote = undefined;
    else if (ch === escapeChar && quote !== "'") {
      if (i + 1 === chars.length) continue;
      word += ch;
      word += chars[++i];
      continue;
    }
    word += ch;
  }
  if (inWord && (blankOK || word.length > 0)) words.push(word);
  return words;
}

/** Thrown for JSON arrays that hold something other than strings. */
const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

/** `["a", "b"]` → strings; undefined when `rest` is not a JSON array. */
function parseJSONArray(rest: string): string[] | undefined {
  const s = rest.trimStart();
  if (!s.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  if (!parsed.every((x) => typeof x === 'string')) throw new Error(NOT_STRING_ARRAY);
  return parsed as string[];
}

interface Split {
  args: string[];
  json: boolean;
  sub?: DockerfileNode;
}

const splitWhitespace = (rest: string): string[] =>
  rest === '' ? [] : rest.split(WS_RE).filter((w) => w !== '');

function maybeJSON(rest: string): Split {
  if (rest === '') return { args: [], json: false };
  const arr = parseJSONArray(rest);
  if (arr) return { args: arr, json: true };
  return { args: [rest], json: false };
}

function maybeJSONToList(rest: string): Split {
  const arr = parseJSONArray(rest);
  if (arr) return { args: arr, json: true };
  return { args: splitWhitespace(rest), json: false };
}

function nameValue(rest: string, keyword: string, escapeChar: string): Split {
  const words = parseWords(rest, escapeChar);
  if (words.length === 0) return { args: [], json: false };
  if (!words[0]!.includes('=')) {
    // The old form `ENV name value`: everything after the first whitespace is the value.
    const m = WS_RE.exec(rest);
    if (!m) throw new Error(`${keyword} must have two arguments`);
    return { args: [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ''], json: false };
  }
  const args: string[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq < 0) throw new Error(`Syntax error - can't find = in "${word}". Must be of the form: name=value`);
    args.push(word.slice(0, eq), word.slice(eq + 1), '=');
  }
  return { args, json: false };
}

function healthcheck(rest: string): Split {
  let sep = 0;
  while (sep < rest.length && !isSpace(rest[sep])) sep++;
  if (sep === 0) return { args: [], json: false };
  let next = sep;
  while (next < rest.length && isSpace(rest[next])) next++;
  const cmd = maybeJSON(rest.slice(next));
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
}

function splitArgs(instruction: string, rest: string, d: Dialect, line: number): Split {
  switch (instruction) {
    case 'run':
    case 'cmd':
    case 'entrypoint':
    case 'shell':
      return maybeJSON(rest);
    case 'add':
    case 'copy':
    case 'volume':
      return maybeJSONToList(rest);
    case 'from':
    case 'expose':
      return { args: splitWhitespace(rest), json: false };
    case 'env':
      return nameValue(rest, 'ENV', d.escapeChar);
    case 'label':
      return nameValue(rest, 'LABEL', d.escapeChar);
    case 'arg':
      return { args: parseWords(rest, d.escapeChar), json: false };
    case 'maintainer':
    case 'user':
    case 'workdir':
    case 'stopsignal':
      return { args: rest === '' ? [] : [rest], json: false };
    case 'healthcheck':
      return healthcheck(rest);
    case 'onbuild':
      if (rest === '') return { args: [], json: false };
      return { args: [], json: false, sub: nodeFromLine(rest, d, line, line) };
    default:
      // BuildKit keeps unknown instructions with one empty argument; the instruction layer rejects them.
      return { args: [''], json: false };
  }
}

function nodeFromLine(line: string, d: Dialect, startLine: number, endLine: number): DockerfileNode {
  const trimmed = line.trim();
  const m = WS_RE.exec(trimmed);
  const keyword = m ? trimmed.slice(0, m.index) : trimmed;
  const { flags, rest } = m ? extractFlags(trimmed.slice(m.index + m[0].length)) : { flags: [], rest: '' };
  const instruction = keyword.toLowerCase();
  let split: Split;
  try {
    split = splitArgs(instruction, rest.trim(), d, startLine);
  } catch (e) {
    if (e instanceof DockerfileParseError) throw e;
    throw new DockerfileParseError((e as Error).message, startLine);
  }
  const node: DockerfileNode = {
    keyword,
    instruction,
    flags,
    args: split.args,
    json: split.json,
    heredocs: [],
    original: line,
    startLine,
    endLine,
  };
  if (split.sub) node.sub = split.sub;
  return node;
}

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

import { DockerfileParseError } from './errors.js';

/**
 * Splitting an instruction's text the way BuildKit's parser does: flags, words with quotes and
 * escapes, JSON arrays, `name=value` lists, and the per-instruction argument forms.
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

// BuildKit splits the keyword and list-form arguments on these (not on all Unicode space).
export const WS_RE = /[\t\v\f\r ]+/;

export const isSpace = (ch: string | undefined): boolean => ch !== undefined && /^\s$/u.test(ch);

export interface Dialect {
  escapeChar: string;
  continuation: RegExp;
}

export function dialectFor(escapeChar: string): Dialect {
  const e = escapeChar === '`' ? '`' : '\\\\';
  // The escape character at the end of a line continues it, unless it is itself escaped.
  return { escapeChar, continuation: new RegExp(`(^|[^${e}])${e}[ \\t]*$`) };
}

export function trimContinuation(line: string, d: Dialect): [string, boolean] {
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

export interface Split {
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

export function splitArgs(instruction: string, rest: string, d: Dialect, line: number): Split {
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

export function nodeFromLine(line: string, d: Dialect, startLine: number, endLine: number): DockerfileNode {
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

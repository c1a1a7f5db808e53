import { ShellExpansionError } from './errors.js';

/**
 * Variable substitution in Dockerfile words, following the rules Docker documents for
 * ENV/ARG/COPY/... ("Environment replacement"): `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`,
 * `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`, `${VAR?msg}`, the pattern forms `${VAR#pat}`,
 * `${VAR##pat}`, `${VAR%pat}`, `${VAR%%pat}`, `${VAR/pat/repl}`, `${VAR//pat/repl}`, single and
 * double quotes, and the escape character (`\` or the one set by `# escape=`).
 */

/** Variables for substitution: a record, a map, or Docker's `KEY=value` list (later entries win). */
export type ShellEnv = Readonly<Record<string, string>> | ReadonlyMap<string, string> | readonly string[];

export interface ShellLexOptions {
  /** The Dockerfile escape character, `\` (default) or `` ` ``. */
  escapeToken?: string;
  /** Keep quote characters in the result (used to find heredoc markers). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  rawEscapes?: boolean;
}

export interface ExpansionResult<T> {
  result: T;
  /** Names that were looked up and found in the environment. */
  matched: Set<string>;
  /** Names that were looked up and not found. */
  unmatched: Set<string>;
}

type Lookup = (name: string) => string | undefined;

export function envLookup(env: ShellEnv): Lookup {
  if (env instanceof Map) return (name) => env.get(name);
  if (Array.isArray(env)) {
    const map = new Map<string, string>();
    for (const kv of env as readonly string[]) {
      const eq = kv.indexOf('=');
      if (eq < 0) map.set(kv, '');
      else map.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    return (name) => map.get(name);
  }
  const rec = env as Readonly<Record<string, string>>;
  return (name) => (Object.hasOwn(rec, name) ? rec[name] : undefined);
}

const isSpace = (ch: string): boolean => /^\s$/u.test(ch);
const isDigit = (ch: string): boolean => /^\p{Nd}$/u.test(ch);
const isNameChar = (ch: string): boolean => /^[\p{L}\p{Nd}_]$/u.test(ch);
// POSIX special parameters; a Dockerfile never sets them, so they expand to nothing.
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!']);

/** Collects the words of ProcessWords-style splitting: unquoted whitespace separates words. */
class WordCollector {
  private readonly words: string[] = [];
  private current = '';
  private started = false;

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.started) this.flush();
      return;
    }
    this.addRaw(ch);
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRaw(s: string): void {
    this.current += s;
    this.started = true;
  }
  private flush(): void {
    this.words.push(this.current);
    this.current = '';
    this.started = false;
  }
  finish(): string[] {
    if (this.started) this.flush();
    return this.words;
  }
}

class Lexer {
  private readonly chars: string[];
  private pos = 0;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly escapeChar: string;

  constructor(
    input: string,
    private readonly lookup: Lookup,
    private readonly options: ShellLexOptions,
  ) {
    this.chars = Array.from(input);
    this.escapeChar = options.escapeToken ?? '\\';
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }
  private next(): string | undefined {
    return this.chars[this.pos++];
  }

  private get(name: string): string | undefined {
    const value = this.lookup(name);
    if (value === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return value;
  }

  word(): string {
    return this.until(undefined, null, this.options.rawEscapes ?? false);
  }

  words(): string[] {
    const collector = new WordCollector();
    this.until(undefined, collector, this.options.rawEscapes ?? false);
    return collector.finish();
  }

  /** Reads up to (and consumes) `stop`, or to the end when `stop` is undefined. */
  private until(stop: string | undefined, words: WordCollector | null, rawEscapes: boolean): string {
    let out = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) {
        if (stop !== undefined)
          throw new ShellExpansionError(`unexpected end of statement while looking for matching ${stop}`);
        return out;
      }
      if (ch === stop) {
        this.next();
        return out;
      }
      if (ch === this.escapeChar) {
        this.next();
        const escaped = this.next();
        // An escape character at the very end is dropped.
        if (escaped === undefined) continue;
        const text = rawEscapes ? this.escapeChar + escaped : escaped;
        out += text;
        words?.addRaw(text);
        continue;
      }
      if (ch === "'") {
        const s = this.singleQuoted();
        out += s;
        words?.addRaw(s);
        continue;
      }
      if (ch === '"') {
        const s = this.doubleQuoted();
        out += s;
        words?.addRaw(s);
        continue;
      }
      if (ch === '$') {
        const s = this.dollar();
        out += s;
        words?.addString(s);
        continue;
      }
      this.next();
      out += ch;
      words?.addChar(ch);
    }
  }

  private singleQuoted(): string {
    this.next();
    let s = '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined)
        throw new ShellExpansionError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") break;
      s += ch;
    }
    return this.options.rawQuotes ? `'${s}'` : s;
  }

  private doubleQuoted(): string {
    this.next();
    let s = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined)
        throw new ShellExpansionError('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.next();
        break;
      }
      if (ch === '$') {
        s += this.dollar();
        continue;
      }
      this.next();
      if (ch === this.escapeChar) {
        const n = this.peek();
        if (n === undefined) continue;
        // Inside double quotes only `"`, `$` and the escape character itself can be escaped;
        // any other escape character stays as written.
        if (n === '"' || n === '$' || n === this.escapeChar) {
          this.next();
          s += this.options.rawEscapes ? ch + n : n;
          continue;
        }
      }
      s += ch;
    }
    return this.options.rawQuotes ? `"${s}"` : s;
  }

  private name(): string {
    let name = '';
    const first = this.peek();
    if (first === undefined) return '';
    if (isDigit(first)) {
      while (this.peek() !== undefined && isDigit(this.peek()!)) name += this.next();
      return name;
    }
    if (SPECIAL_PARAMS.has(first)) {
      this.next();
      return first;
    }
    while (this.peek() !== undefined && isNameChar(this.peek()!)) name += this.next();
    return name;
  }

  private dollar(): string {
    this.next(); // $
    if (this.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return this.get(name) ?? '';
    }
    this.next(); // {
    const name = this.name();
    const ch = this.peek();
    if (ch === undefined) throw new ShellExpansionError("syntax error: missing '}'");
    if (name === '') throw new ShellExpansionError('bad substitution');
    this.next();
    switch (ch) {
      case '}':
        return this.get(name) ?? '';
      case ':': {
        const mod = this.next();
        if (mod !== '-' && mod !== '+' && mod !== '?') {
          throw new ShellExpansionError(`unsupported modifier (${mod ?? ''}) in substitution`);
        }
        const word = this.until('}', null, false);
        const value = this.get(name);
        const setAndNonEmpty = value !== undefined && value !== '';
        if (mod === '-') return setAndNonEmpty ? value : word;
        if (mod === '+') return setAndNonEmpty ? word : '';
        if (!setAndNonEmpty)
          throw new ShellExpansionError(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      }
      case '-':
      case '+':
      case '?': {
        const word = this.until('}', null, false);
        const value = this.get(name);
        if (ch === '-') return value ?? word;
        if (ch === '+') return value === undefined ? '' : word;
        if (value === undefined)
          throw new ShellExpansionError(`${name}: ${word || 'is not allowed to be unset'}`);
        return value;
      }
      case '#':
      case '%': {
        const longest = this.peek() === ch;
        if (longest) this.next();
        // Patterns keep their escape characters: they make glob characters literal.
        const pattern = this.until('}', null, true);
        const value = this.get(name) ?? '';
        return ch === '#'
          ? trimPrefix(value, pattern, longest, this.escapeChar)
          : trimSuffix(value, pattern, longest, this.escapeChar);
      }
      case '/': {
        const all = this.peek() === '/';
        if (all) this.next();
        const pattern = this.until('/', null, true);
        const replacement = this.until('}', null, true);
        const value = this.get(name) ?? '';
        return replacePattern(value, pattern, replacement, all, this.escapeChar);
      }
      default:
        throw new ShellExpansionError(`unsupported modifier (${ch}) in substitution`);
    }
  }
}

/** Converts a shell pattern (`*`, `?`, `[...]`, escapes) to an unanchored regular-expression source. */
function patternToRegExpSource(pattern: string, escapeChar: string): string {
  const chars = Array.from(pattern);
  let re = '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === escapeChar) {
      const n = chars[++i];
      re += escapeRegExp(n ?? escapeChar);
    } else if (ch === '*') re += '[\\s\\S]*';
    else if (ch === '?') re += '[\\s\\S]';
    else if (ch === '[') {
      // A bracket expression only when it is closed; `]` right after `[` (or `[!`) is a member.
      let j = i + 1;
      if (chars[j] === '!' || chars[j] === '^') j++;
      if (chars[j] === ']') j++;
      while (j < chars.length && chars[j] !== ']') j++;
      if (j >= chars.length) {
        re += '\\[';
        continue;
      }
      let body = chars.slice(i + 1, j);
      let negate = false;
      if (body[0] === '!' || body[0] === '^') {
        negate = true;
        body = body.slice(1);
      }
      re += `[${negate ? '^' : ''}${body.map((c) => (c === '-' ? '-' : escapeRegExp(c))).join('')}]`;
      i = j;
    } else re += escapeRegExp(ch);
  }
  return re;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function fullMatcher(pattern: string, escapeChar: string): RegExp {
  return new RegExp(`^(?:${patternToRegExpSource(pattern, escapeChar)})$`, 'u');
}

function trimPrefix(value: string, pattern: string, longest: boolean, escapeChar: string): string {
  const re = fullMatcher(pattern, escapeChar);
  const cps = Array.from(value);
  for (let k = 0; k <= cps.length; k++) {
    const n = longest ? cps.length - k : k;
    if (re.test(cps.slice(0, n).join(''))) return cps.slice(n).join('');
  }
  return value;
}

function trimSuffix(value: string, pattern: string, longest: boolean, escapeChar: string): string {
  const re = fullMatcher(pattern, escapeChar);
  const cps = Array.from(value);
  for (let k = 0; k <= cps.length; k++) {
    const start = longest ? k : cps.length - k;
    if (re.test(cps.slice(start).join(''))) return cps.slice(0, start).join('');
  }
  return value;
}

function replacePattern(
  value: string,
  pattern: string,
  replacement: string,
  all: boolean,
  escapeChar: string,
): string {
  if (all && pattern === '') return value;
  const re = new RegExp(patternToRegExpSource(pattern, escapeChar), all ? 'gu' : 'u');
  return value.replace(re, () => replacement);
}

/** Expands one word (no word splitting), like BuildKit's `ProcessWord`. */
export function expandWord(input: string, env: ShellEnv, options: ShellLexOptions = {}): string {
  return new Lexer(input, envLookup(env), options).word();
}

/** Like {@link expandWord}, also reporting which variables were found and which were not. */
export function expandWordWithMatches(
  input: string,
  env: ShellEnv,
  options: ShellLexOptions = {},
): ExpansionResult<string> {
  const lexer = new Lexer(input, envLookup(env), options);
  const result = lexer.word();
  return { result, matched: lexer.matched, unmatched: lexer.unmatched };
}

/**
 * Expands and splits into words on unquoted whitespace (quotes removed), like BuildKit's
 * `ProcessWords`; whitespace inside an unquoted variable's value splits too.
 */
export function expandWords(input: string, env: ShellEnv, options: ShellLexOptions = {}): string[] {
  return new Lexer(input, envLookup(env), options).words();
}

import { DockerfileParseError } from './errors.js';

/** Parser directives (`# escape=`, `# syntax=`, `# check=`) and the line splitting they share with the parser. */

export interface ParserDirective {
  /** Lower-cased: `syntax`, `escape` or `check`. */
  name: string;
  value: string;
  line: number;
}

const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const DIRECTIVE_RE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const SLASH_DIRECTIVE_RE = /^\/\/[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;

/** The file's physical lines: a BOM, a final newline and CRs before newlines dropped. */
export function splitLines(text: string): string[] {
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

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

import { posix } from 'node:path';

/**
 * `.dockerignore` semantics (Docker's "Exclude with .dockerignore"): one pattern a line, `#`
 * comments, `!` re-includes, `*` and `?` within one path segment, `**` across any number of
 * segments, a leading `/` means nothing (patterns are relative to the context root), and the
 * last matching pattern decides. A pattern that matches a directory excludes what is in it.
 */

/** The patterns of a .dockerignore file, cleaned the way Docker cleans them. */
export function parseDockerignore(text: string): string[] {
  const patterns: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.startsWith('#')) continue;
    let pattern = raw.trim();
    if (pattern === '') continue;
    let invert = false;
    if (pattern.startsWith('!')) {
      invert = true;
      pattern = pattern.slice(1).trim();
    }
    if (pattern.length > 0) {
      pattern = posix.normalize(pattern);
      if (pattern.length > 1 && pattern.endsWith('/')) pattern = pattern.slice(0, -1);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
      if (pattern === './') pattern = '.';
    }
    patterns.push(invert ? `!${pattern}` : pattern);
  }
  return patterns;
}

interface CompiledPattern {
  exclusion: boolean;
  re: RegExp;
  source: string;
}

/** A .dockerignore-style glob over `/`-separated relative paths → an anchored RegExp. */
export function compileIgnorePattern(pattern: string): RegExp {
  let re = '^';
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        // `**/` is `**`: zero or more whole directories.
        if (chars[i + 1] === '/') i++;
        re += i + 1 >= chars.length ? '.*' : '(?:.*/)?';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '\\') {
      const n = chars[++i];
      re += n === undefined ? '\\\\' : n.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else if (ch === '[') {
      let j = i + 1;
      if (chars[j] === '^' || chars[j] === '!') j++;
      if (chars[j] === ']') j++;
      while (j < chars.length && chars[j] !== ']') j++;
      if (j >= chars.length) throw new Error(`syntax error in pattern: ${pattern}`);
      let body = chars.slice(i + 1, j).join('');
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\(?!.)/g, '\\\\')}]`;
      i = j;
    } else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`${re}$`, 'u');
}

export class PatternMatcher {
  private readonly patterns: CompiledPattern[];

  constructor(patterns: readonly string[]) {
    this.patterns = [];
    for (const p of patterns) {
      const exclusion = p.startsWith('!');
      const source = exclusion ? p.slice(1) : p;
      if (source === '') continue;
      this.patterns.push({ exclusion, source, re: compileIgnorePattern(source) });
    }
  }

  /** Whether there are no patterns (nothing is excluded). */
  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether there are `!` patterns (an excluded directory may then still hold included files). */
  get hasExclusions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /** Whether a context-relative path (`a/b/c`) is excluded: by itself or through a parent. */
  matches(path: string): boolean {
    const file = posix.normalize(path).replace(/^\/+/, '').replace(/\/+$/, '');
    const parts = file.split('/');
    let matched = false;
    for (const p of this.patterns) {
      // An include pattern cannot change an already excluded path, nor an exclusion a kept one.
      if (p.exclusion !== matched) continue;
      let hit = p.re.test(file);
      for (let i = 1; !hit && i < parts.length; i++) hit = p.re.test(parts.slice(0, i).join('/'));
      if (hit) matched = !p.exclusion;
    }
    return matched;
  }
}

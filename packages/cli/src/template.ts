/**
 * A subset of Go's text/template, enough for Docker's `--format`: fields (`.A.B`), pipelines,
 * `if`/`else`/`range`/`with`, variables, and Docker's functions (json, join, index, upper,
 * lower, title, split, printf, println, len, truncate, pad, eq/ne/lt/gt, and/or/not).
 */
import { type Funcs, builtinFuncs, formatValue, truthy } from './template-funcs.js';

export class TemplateError extends Error {}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline }
  | { kind: 'if' | 'with'; pipe: Pipeline; body: Node[]; elseBody: Node[] }
  | { kind: 'range'; pipe: Pipeline; vars: string[]; body: Node[]; elseBody: Node[] };

interface Pipeline {
  decl: string[];
  cmds: Operand[][];
}

type Operand =
  | { kind: 'field'; base: 'dot' | string; path: string[] }
  | { kind: 'literal'; value: unknown }
  | { kind: 'ident'; name: string }
  | { kind: 'sub'; pipe: Pipeline };

/** Parsed templates by source: a listing renders the same `--format` once per row. */
const parsed = new Map<string, Node[]>();

export function renderTemplate(source: string, data: unknown, extraFuncs: Funcs = {}): string {
  let nodes = parsed.get(source);
  if (!nodes) {
    nodes = parseTemplate(source);
    if (parsed.size >= 32) parsed.clear();
    parsed.set(source, nodes);
  }
  return executeTemplate(nodes, data, extraFuncs);
}

export function parseTemplate(source: string): Node[] {
  const tokens = splitActions(source);
  let pos = 0;
  const parseList = (terminators: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos++]!;
      if (t.type === 'text') {
        if (t.value !== '') nodes.push({ kind: 'text', text: t.value });
        continue;
      }
      const action = t.value.trim();
      if (action.startsWith('/*')) continue;
      const word = action.split(/\s+/)[0]!;
      if (terminators.includes(word)) return { nodes, end: action };
      if (word === 'if' || word === 'with' || word === 'range') {
        const rest = action.slice(word.length).trim();
        const pipe = parsePipeline(rest);
        const body = parseList(['else', 'end']);
        let elseBody: Node[] = [];
        if (body.end.startsWith('else')) {
          const elseRest = body.end.slice(4).trim();
          if (elseRest.startsWith('if ')) {
            // `else if` chains nest as an if inside the else branch sharing one `end`.
            pos--;
            tokens[pos] = { type: 'action', value: elseRest };
            const nested = parseList(['__never__']);
            elseBody = nested.nodes;
          } else {
            elseBody = parseList(['end']).nodes;
          }
        }
        if (word === 'range') {
          nodes.push({
            kind: 'range',
            pipe: { ...pipe, decl: [] },
            vars: pipe.decl,
            body: body.nodes,
            elseBody,
          });
        } else {
          nodes.push({ kind: word, pipe, body: body.nodes, elseBody });
        }
        if (elseBody.length > 0 && body.end.slice(4).trim().startsWith('if ')) return { nodes, end: 'end' };
        continue;
      }
      if (word === 'end' || word === 'else') throw new TemplateError(`template: unexpected {{${word}}}`);
      nodes.push({ kind: 'action', pipe: parsePipeline(action) });
    }
    if (terminators.length > 0 && !terminators.includes('__never__'))
      throw new TemplateError('template: unexpected EOF');
    return { nodes, end: '' };
  };
  return parseList([]).nodes;
}

function splitActions(source: string): Array<{ type: 'text' | 'action'; value: string }> {
  const out: Array<{ type: 'text' | 'action'; value: string }> = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open < 0) {
      out.push({ type: 'text', value: source.slice(i) });
      break;
    }
    let text = source.slice(i, open);
    let start = open + 2;
    if (source[start] === '-' && /\s/.test(source[start + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    out.push({ type: 'text', value: text });
    const close = findClose(source, start);
    if (close < 0) throw new TemplateError('template: unclosed action');
    let inner = source.slice(start, close);
    let next = close + 2;
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      const m = /^\s*/.exec(source.slice(next))!;
      next += m[0].length;
    }
    out.push({ type: 'action', value: inner });
    i = next;
  }
  return out;
}

function findClose(source: string, from: number): number {
  let quote: string | undefined;
  for (let i = from; i < source.length - 1; i++) {
    const c = source[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === '`') quote = c;
    else if (c === '}' && source[i + 1] === '}') return i;
  }
  return -1;
}

function tokenize(s: string): string[] {
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|:=|\(|\)|\||,|[^\s()|,]+)/y;
  const out: string[] = [];
  let m: RegExpExecArray | null;
  re.lastIndex = 0;
  while (re.lastIndex < s.length && (m = re.exec(s))) out.push(m[1]!);
  if (re.lastIndex < s.trimEnd().length)
    throw new TemplateError(`template: bad syntax in ${JSON.stringify(s)}`);
  return out;
}

function parsePipeline(s: string): Pipeline {
  const tokens = tokenize(s);
  let i = 0;
  const decl: string[] = [];
  const declEnd = tokens.indexOf(':=');
  if (declEnd > 0 && tokens.slice(0, declEnd).every((t) => t === ',' || t.startsWith('$'))) {
    decl.push(...tokens.slice(0, declEnd).filter((t) => t !== ','));
    i = declEnd + 1;
  }
  const parseCmds = (stopAtParen: boolean): Operand[][] => {
    const cmds: Operand[][] = [[]];
    while (i < tokens.length) {
      const t = tokens[i++]!;
      if (t === ')') {
        if (stopAtParen) return cmds;
        throw new TemplateError('template: unexpected )');
      }
      if (t === '|') {
        cmds.push([]);
        continue;
      }
      if (t === '(') {
        cmds.at(-1)!.push({ kind: 'sub', pipe: { decl: [], cmds: parseCmds(true) } });
        continue;
      }
      cmds.at(-1)!.push(operand(t));
    }
    if (stopAtParen) throw new TemplateError('template: unclosed (');
    return cmds;
  };
  return { decl, cmds: parseCmds(false) };
}

function operand(t: string): Operand {
  if (t.startsWith('"')) return { kind: 'literal', value: JSON.parse(t) };
  if (t.startsWith('`')) return { kind: 'literal', value: t.slice(1, -1) };
  if (/^-?\d+(\.\d+)?$/.test(t)) return { kind: 'literal', value: Number(t) };
  if (t === 'true' || t === 'false') return { kind: 'literal', value: t === 'true' };
  if (t === 'nil') return { kind: 'literal', value: null };
  if (t === '.') return { kind: 'field', base: 'dot', path: [] };
  if (t.startsWith('.')) return { kind: 'field', base: 'dot', path: t.slice(1).split('.') };
  if (t.startsWith('$')) {
    const [name, ...path] = t.split('.');
    return { kind: 'field', base: name!, path };
  }
  return { kind: 'ident', name: t };
}

interface Scope {
  dot: unknown;
  vars: Map<string, unknown>;
}

export function executeTemplate(nodes: Node[], data: unknown, extraFuncs: Funcs = {}): string {
  const funcs = { ...builtinFuncs, ...extraFuncs };
  let out = '';
  const run = (list: Node[], scope: Scope) => {
    for (const node of list) {
      switch (node.kind) {
        case 'text':
          out += node.text;
          break;
        case 'action': {
          const v = evalPipeline(node.pipe, scope, funcs);
          if (node.pipe.decl.length === 0) out += formatValue(v);
          break;
        }
        case 'if':
        case 'with': {
          const v = evalPipeline(node.pipe, scope, funcs);
          if (truthy(v)) run(node.body, node.kind === 'with' ? { dot: v, vars: scope.vars } : scope);
          else run(node.elseBody, scope);
          break;
        }
        case 'range': {
          const v = evalPipeline(node.pipe, scope, funcs);
          const entries: Array<[unknown, unknown]> = Array.isArray(v)
            ? v.map((e, i) => [i, e])
            : v && typeof v === 'object'
              ? Object.keys(v as object)
                  .sort()
                  .map((k) => [k, (v as Record<string, unknown>)[k]])
              : [];
          if (entries.length === 0) run(node.elseBody, scope);
          for (const [k, e] of entries) {
            const vars = new Map(scope.vars);
            if (node.vars.length === 1) vars.set(node.vars[0]!, e);
            if (node.vars.length === 2) {
              vars.set(node.vars[0]!, k);
              vars.set(node.vars[1]!, e);
            }
            run(node.body, { dot: e, vars });
          }
          break;
        }
      }
    }
  };
  run(nodes, { dot: data, vars: new Map([['$', data]]) });
  return out;
}

function evalPipeline(pipe: Pipeline, scope: Scope, funcs: Funcs): unknown {
  let value: unknown;
  let first = true;
  for (const cmd of pipe.cmds) {
    value = evalCommand(cmd, scope, funcs, first ? undefined : { value });
    first = false;
  }
  for (const name of pipe.decl) scope.vars.set(name, value);
  return value;
}

function evalCommand(cmd: Operand[], scope: Scope, funcs: Funcs, piped?: { value: unknown }): unknown {
  const [head, ...rest] = cmd;
  if (!head) throw new TemplateError('template: empty command');
  const args = rest.map((o) => evalOperand(o, scope, funcs));
  if (piped) args.push(piped.value);
  if (head.kind === 'ident') {
    const fn = funcs[head.name];
    if (!fn) throw new TemplateError(`template: function "${head.name}" not defined`);
    return fn(...args);
  }
  const v = evalOperand(head, scope, funcs, args);
  return v;
}

function evalOperand(o: Operand, scope: Scope, funcs: Funcs, callArgs: unknown[] = []): unknown {
  switch (o.kind) {
    case 'literal':
      return o.value;
    case 'ident': {
      const fn = funcs[o.name];
      if (!fn) throw new TemplateError(`template: function "${o.name}" not defined`);
      return fn();
    }
    case 'sub':
      return evalPipeline(o.pipe, scope, funcs);
    case 'field': {
      let v: unknown = o.base === 'dot' ? scope.dot : scope.vars.get(o.base);
      if (o.base !== 'dot' && !scope.vars.has(o.base))
        throw new TemplateError(`template: undefined variable "${o.base}"`);
      o.path.forEach((key, i) => {
        if (v === null || v === undefined) {
          v = undefined;
          return;
        }
        const next = (v as Record<string, unknown>)[key];
        if (typeof next === 'function') {
          const isLast = i === o.path.length - 1;
          v = (next as (...a: unknown[]) => unknown).apply(v, isLast ? callArgs : []);
        } else {
          v = next;
        }
      });
      return v;
    }
  }
}

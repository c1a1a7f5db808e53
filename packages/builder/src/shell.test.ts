import { describe, expect, it } from 'vitest';
import { ShellExpansionError } from './errors.js';
import { expandWord, expandWordWithMatches, expandWords } from './shell.js';

describe('shell-word expansion', () => {
  it('substitutes with defaults, alternatives and patterns', () => {
    const env = { A: 'x', EMPTY: '', PATH_VAR: '/usr/local/bin/app.tar.gz' };
    expect(expandWord('$A ${A} ${B:-def} ${EMPTY-set} ${A:+alt} ${B+alt}', env)).toBe('x x def  alt ');
    expect(expandWord('${PATH_VAR##*/} ${PATH_VAR%%.*} ${PATH_VAR/bin/sbin}', env)).toBe(
      'app.tar.gz /usr/local/bin/app /usr/local/sbin/app.tar.gz',
    );
    expect(expandWord('\'$A\' "$A" \\$A', env)).toBe('$A x $A');
  });

  it('takes the environment as a record, a map or a KEY=value list (later wins)', () => {
    expect(expandWord('$X', new Map([['X', '1']]))).toBe('1');
    expect(expandWord('$X', ['X=1', 'X=2'])).toBe('2');
  });

  it('uses the Dockerfile escape character', () => {
    expect(expandWord('a`$A', { A: 'x' }, { escapeToken: '`' })).toBe('a$A');
    expect(expandWord('C:\\dir', {}, { escapeToken: '`' })).toBe('C:\\dir');
  });

  it('splits words on unquoted whitespace, including inside values', () => {
    expect(expandWords('a "b c" $V', { V: 'd  e' })).toEqual(['a', 'b c', 'd', 'e']);
  });

  it('reports matched and unmatched variables, and fails on bad substitutions', () => {
    const r = expandWordWithMatches('${A}${NOPE:-x}', { A: '1' });
    expect([r.result, [...r.matched], [...r.unmatched]]).toEqual(['1x', ['A'], ['NOPE']]);
    expect(() => expandWord('${A:?must be set}', {})).toThrow(new ShellExpansionError('A: must be set'));
    expect(() => expandWord('${}', {})).toThrow(ShellExpansionError);
    expect(() => expandWord('"open', {})).toThrow('unexpected end of statement');
  });
});

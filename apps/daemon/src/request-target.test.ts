import { describe, expect, it } from 'vitest';
import { HttpError } from './http.js';
import { parseRequestTarget } from './request-target.js';

const viaUrl = (target: string) => {
  let url: URL;
  try {
    url = new URL(target, 'http://localhost');
  } catch {
    return 'invalid';
  }
  return { pathname: url.pathname, query: [...url.searchParams] };
};
const viaParse = (target: string) => {
  try {
    const t = parseRequestTarget(target);
    return { pathname: t.pathname, query: [...t.query] };
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(400);
    return 'invalid';
  }
};

describe('parseRequestTarget', () => {
  it('reads targets as WHATWG URL parsing does', () => {
    for (const target of [
      '/_ping',
      '/v1.47/containers/json?all=1&limit=3',
      '/containers/json?filters=%7B%22name%22%3A%5B%22zz%22%5D%7D',
      '/containers/json?filters={"name":["a b"]}',
      '/images/registry.local:5000/library/busybox:1.36/json',
      '/images/a%2Fb/json',
      '/containers/x%zz/json',
      '//_ping',
      '/containers/../_ping',
      '/containers/./json',
      '/containers/%2e%2E/_ping',
      '/containers/.%2e',
      '/a\\b',
      '/_ping#frag',
      '/_ping?x=a#b',
      '/a b?c d',
      '/a"<>`{}|^',
      '/caf\u00e9?n=\u00e9',
      '/x?a=1&a=2&b=&=c&&d',
      '/x?q=a+b%20c',
      '/x?',
      '/x?#',
      '*',
      '/..hidden/.x/x./...',
      '//:',
      '//a:b@:1',
    ])
      expect(viaParse(target), target).toEqual(viaUrl(target));
  });

  it('agrees with URL on random targets', () => {
    const alphabet = [
      '/',
      '.',
      '%',
      '2',
      'e',
      'E',
      '?',
      '#',
      '&',
      '=',
      '+',
      '\\',
      ' ',
      'a',
      ':',
      '@',
      '"',
      '\u00e9',
      '~',
    ];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 20_000; i++) {
      let target = '/';
      const length = next() % 12;
      for (let j = 0; j < length; j++) target += alphabet[next() % alphabet.length];
      expect(viaParse(target), target).toEqual(viaUrl(target));
    }
  });
});

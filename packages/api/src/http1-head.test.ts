import { describe, expect, it } from 'vitest';
import { parseHeadFields, parseRequestHead } from './http1-head.js';

describe('HTTP/1.1 heads', () => {
  it('reads response fields leniently, as the client always did', () => {
    expect(
      parseHeadFields(
        ['Content-Type: a', 'junk', 'X-A: 1', 'x-a: 2', 'Set-Cookie: c=1', 'Set-Cookie: d=2'],
        'lenient',
      ),
    ).toEqual({ 'content-type': 'a', 'x-a': '1, 2', 'set-cookie': ['c=1', 'd=2'] });
  });

  it('reads a plain request head', () => {
    expect(
      parseRequestHead('GET /v1.47/_ping?x=1 HTTP/1.1\r\nHost: docker\r\nUser-Agent:  Docker-Client/28  '),
    ).toEqual({
      method: 'GET',
      target: '/v1.47/_ping?x=1',
      version: '1.1',
      headers: { host: 'docker', 'user-agent': 'Docker-Client/28' },
    });
  });

  it('refuses anything irregular in a request head', () => {
    for (const block of [
      'GET /x HTTP/1.1\r\nNo colon',
      'GET /x HTTP/1.1\r\nBad Name: 1',
      'GET /x HTTP/1.1\r\n: empty name',
      'GET /x HTTP/1.1\r\nX: tab\tinside',
      'GET /x HTTP/1.1\r\nX: caf\u00e9',
      'GET /x HTTP/1.1\r\nX: a\nY: b',
      'GET /x HTTP/1.1\r\nHost: a\r\nhost: b',
      'GET /x HTTP/1.1\r\n folded: value',
      'GET /x y HTTP/1.1',
      'get /x HTTP/1.1',
      'GET /x HTTP/2.0',
      'GET /x',
    ])
      expect(parseRequestHead(block), JSON.stringify(block)).toBeUndefined();
  });
});

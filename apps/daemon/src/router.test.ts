import { describe, expect, it } from 'vitest';
import { type Handler, HttpError } from './http.js';
import { Router } from './router.js';

const handler = (name: string): Handler => Object.assign(async () => {}, { label: name });
const label = (m: ReturnType<Router['match']>) =>
  typeof m === 'object' ? (m.handler as Handler & { label: string }).label : m;

function router(): Router {
  return new Router()
    .add('GET', '/_ping', handler('ping'))
    .add('HEAD', '/_ping', handler('ping-head'))
    .add('GET', '/containers/json', handler('ps'))
    .add('GET', '/containers/{id}/json', handler('inspect'))
    .add('POST', '/containers/{id}/start', handler('start'))
    .add('DELETE', '/containers/{id}', handler('rm'))
    .add('GET', '/images/{name*}/json', handler('image-inspect'))
    .add('POST', '/images/{name*}/tag', handler('tag'));
}

describe('Router', () => {
  it('matches a fixed path, with or without a trailing slash', () => {
    const r = router();
    expect(label(r.match('GET', '/containers/json'))).toBe('ps');
    expect(label(r.match('GET', '/containers/json/'))).toBe('ps');
    expect(r.match('GET', '/containers/json')).toMatchObject({ params: {} });
  });

  it('takes the first route that matches, in the order they were added', () => {
    const r = new Router().add('GET', '/x/{id}', handler('param')).add('GET', '/x/fixed', handler('fixed'));
    expect(label(r.match('GET', '/x/fixed'))).toBe('param');
  });

  it('captures {id} within one segment and {name*} across slashes (image names)', () => {
    const r = router();
    expect(r.match('POST', '/containers/abc123/start')).toMatchObject({ params: { id: 'abc123' } });
    expect(r.match('GET', '/containers/a/b/json')).toBeUndefined();
    expect(r.match('GET', '/images/registry.local:5000/library/busybox:1.36/json')).toMatchObject({
      params: { name: 'registry.local:5000/library/busybox:1.36' },
    });
    expect(r.match('POST', '/images/sha256:0123abcd/tag')).toMatchObject({
      params: { name: 'sha256:0123abcd' },
    });
  });

  it('percent-decodes parameters', () => {
    const r = router();
    expect(r.match('GET', '/containers/my%20name/json')).toMatchObject({ params: { id: 'my name' } });
    expect(r.match('GET', '/images/library%2Fbusybox%3Alatest/json')).toMatchObject({
      params: { name: 'library/busybox:latest' },
    });
  });

  it('answers a malformed escape with a 400 in Go’s words', () => {
    const r = router();
    for (const [path, bad] of [
      ['/containers/%zz/json', '%zz'],
      ['/containers/a%e/json', '%e'],
      ['/images/busy%G1box/json', '%G1'],
    ] as const) {
      let thrown: unknown;
      try {
        r.match('GET', path);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, path).toBeInstanceOf(HttpError);
      expect((thrown as HttpError).status).toBe(400);
      expect((thrown as HttpError).message).toBe(`invalid URL escape ${JSON.stringify(bad)}`);
    }
  });

  it('tells a path known under another method (405) from an unknown one (404)', () => {
    const r = router();
    expect(r.match('PUT', '/containers/abc/start')).toBe('method-not-allowed');
    expect(r.match('GET', '/containers/abc/start')).toBe('method-not-allowed');
    expect(r.match('DELETE', '/containers/abc')).toMatchObject({ params: { id: 'abc' } });
    expect(r.match('GET', '/containers/abc/nothing')).toBeUndefined();
    expect(r.match('GET', '/nowhere')).toBeUndefined();
    expect(r.match('GET', '')).toBeUndefined();
  });

  it('serves HEAD from a GET route unless a HEAD route comes first', () => {
    const r = router();
    expect(label(r.match('HEAD', '/containers/abc/json'))).toBe('inspect');
    // The GET /_ping route was added before HEAD /_ping: the first match wins.
    expect(label(r.match('HEAD', '/_ping'))).toBe('ping');
    expect(r.match('HEAD', '/containers/abc/start')).toBe('method-not-allowed');
  });

  it('matches whole paths: no prefix or suffix matches', () => {
    const r = new Router().add('GET', '/plugins/{id}', handler('plugin'));
    expect(r.match('GET', '/plugins/x')).toMatchObject({ params: { id: 'x' } });
    expect(r.match('GET', '/prefix/plugins/x')).toBeUndefined();
    expect(r.match('GET', '/plugins/x/extra')).toBeUndefined();
    expect(r.match('GET', '/plugins')).toBeUndefined();
  });

  it('keeps the order of routes added when one starts with a parameter', () => {
    const r = new Router()
      .add('GET', '/{anything}/json', handler('any'))
      .add('GET', '/containers/json', handler('ps'));
    expect(label(r.match('GET', '/containers/json'))).toBe('any');
    expect(label(r.match('GET', '/images/json'))).toBe('any');
  });
});

import { type ErrorKind, TypedError } from '@ts-container/common';
import { EngineError } from '@ts-container/engine';
import { ImageError, InvalidReferenceError } from '@ts-container/image';
import { NetworkError } from '@ts-container/network';
import { RegistryError } from '@ts-container/registry';
import { RuntimeError } from '@ts-container/runtime';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HttpError, boolParam, filtersParam, intParam, messageFor, statusFor } from './http.js';

/** moby's errdefs → HTTP status (api/server/httpstatus): the table clients rely on. */
const DOCKER_STATUS: Record<ErrorKind, number> = {
  'not-found': 404,
  'invalid-parameter': 400,
  conflict: 409,
  'not-modified': 304,
  unavailable: 503,
  forbidden: 403,
  unauthorized: 401,
  'not-implemented': 501,
  system: 500,
};

describe('error mapping (one place: statusFor, messageFor)', () => {
  it('maps every errdefs kind of a TypedError to Docker’s status, keeping the message verbatim', () => {
    for (const [kind, status] of Object.entries(DOCKER_STATUS) as [ErrorKind, number][]) {
      const err = new TypedError(kind, `No such container: ${kind}`);
      expect(statusFor(err), kind).toBe(status);
      expect(messageFor(err)).toBe(`No such container: ${kind}`);
    }
  });

  it('maps each package’s error class by its kind, never by its message', () => {
    const cases: [Error, number][] = [
      [new EngineError('not-found', 'No such container: x'), 404],
      [new EngineError('conflict', 'Conflict. The container name "/x" is already in use'), 409],
      [new ImageError('not-found', 'No such image: busybox:latest'), 404],
      [new ImageError('unavailable', 'not found'), 503],
      [new InvalidReferenceError('invalid reference format'), 400],
      [new NetworkError('forbidden', 'bridge is a pre-defined network and cannot be removed'), 403],
      [new NetworkError('not-found', 'conflict'), 404],
      [new RegistryError('unauthorized', 'unauthorized: authentication required'), 401],
      [new RegistryError('unavailable', 'Get "https://r/v2/": dial tcp: connection refused'), 503],
      [new RuntimeError('invalid-parameter', 'runtime "nope" not found'), 400],
      [new RuntimeError('system', 'OCI runtime create failed'), 500],
    ];
    for (const [err, status] of cases) {
      expect(err).toBeInstanceOf(TypedError);
      expect(statusFor(err), `${err.constructor.name}: ${err.message}`).toBe(status);
      expect(messageFor(err)).toBe(err.message);
    }
  });

  it('answers an HttpError with its own status, a zod failure with 400, anything else with 500', () => {
    expect(statusFor(new HttpError(405, 'method GET not allowed'))).toBe(405);
    expect(statusFor(new HttpError(400, 'invalid URL escape "%zz"'))).toBe(400);
    expect(statusFor(new Error('boom'))).toBe(500);
    expect(statusFor('a thrown string')).toBe(500);
    expect(statusFor(undefined)).toBe(500);
    // An error that only looks typed (a kind string on a plain Error) is not trusted.
    expect(statusFor(Object.assign(new Error('No such container: x'), { kind: 'not-found' }))).toBe(500);
  });

  it('words a zod failure as path: message pairs, and anything thrown as text', () => {
    const parsed = z
      .object({ Image: z.string(), HostConfig: z.object({ Memory: z.number() }) })
      .safeParse({ Image: 1, HostConfig: { Memory: 'x' } });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(statusFor(parsed.error)).toBe(400);
    expect(messageFor(parsed.error)).toBe(
      'Image: Expected string, received number; HostConfig.Memory: Expected number, received string',
    );
    const root = z.string().safeParse(3);
    if (!root.success) expect(messageFor(root.error)).toBe('body: Expected string, received number');
    expect(messageFor('plain text')).toBe('plain text');
    expect(messageFor(42)).toBe('42');
  });
});

describe('query parameters, as Docker reads them', () => {
  const q = (s: string) => new URLSearchParams(s);

  it('boolParam: 1/true/True/anything else are true; 0/false/False/no and absent are false', () => {
    for (const v of ['1', 'true', 'True', 'yes']) expect(boolParam(q(`all=${v}`), 'all'), v).toBe(true);
    for (const v of ['0', 'false', 'False', 'no']) expect(boolParam(q(`all=${v}`), 'all'), v).toBe(false);
    expect(boolParam(q(''), 'all')).toBe(false);
    expect(boolParam(q('all='), 'all', true)).toBe(true);
  });

  it('intParam: integers, undefined when absent, a 400 otherwise', () => {
    expect(intParam(q('t=10'), 't')).toBe(10);
    expect(intParam(q('t=-1'), 't')).toBe(-1);
    expect(intParam(q(''), 't')).toBeUndefined();
    expect(() => intParam(q('t=1.5'), 't')).toThrow('invalid value for t: "1.5"');
    expect(() => intParam(q('t=ten'), 't')).toThrowError(HttpError);
  });

  it('filtersParam: the list form and the legacy map form; malformed JSON is a 400', () => {
    expect(filtersParam(q(`filters=${encodeURIComponent('{"status":["running","paused"]}')}`))).toEqual(
      new Map([['status', ['running', 'paused']]]),
    );
    expect(filtersParam(q(`filters=${encodeURIComponent('{"label":{"a=b":true}}')}`))).toEqual(
      new Map([['label', ['a=b']]]),
    );
    expect(filtersParam(q(''))).toEqual(new Map());
    let thrown: unknown;
    try {
      filtersParam(q('filters={nope'));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(HttpError);
    expect(statusFor(thrown)).toBe(400);
    expect(messageFor(thrown)).toBe('invalid filter: {nope');
  });
});

import { BuilderError } from '@ts-container/builder';
import { TypedError, parsePortSpec, ramInBytes } from '@ts-container/common';
import { ImageError } from '@ts-container/image';
import { NetworkError } from '@ts-container/network';
import { RegistryError } from '@ts-container/registry';
import { RuntimeError } from '@ts-container/runtime';
import { SnapshotError } from '@ts-container/unionfs';
import { describe, expect, it } from 'vitest';
import { EngineError, errorKind } from './errors.js';

const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
};

describe('errorKind: one mapping for every package, by class not by string', () => {
  it('reads the kind of every TypedError subclass', () => {
    for (const err of [
      new EngineError('conflict', 'x'),
      new ImageError('conflict', 'x'),
      new RuntimeError('conflict', 'x'),
    ]) {
      expect(err).toBeInstanceOf(TypedError);
      expect(errorKind(err)).toBe('conflict');
    }
    expect(errorKind(new NetworkError('forbidden', 'x'))).toBe('forbidden');
    expect(errorKind(new RegistryError('unauthorized', 'x'))).toBe('unauthorized');
    expect(errorKind(new BuilderError('not-found', 'x'))).toBe('not-found');
  });

  it('maps the shared parsers’ errors to invalid-parameter (HTTP 400)', () => {
    expect(errorKind(thrown(() => ramInBytes('lots')))).toBe('invalid-parameter');
    expect(errorKind(thrown(() => parsePortSpec('70000:80')))).toBe('invalid-parameter');
  });

  it('translates unionfs kinds and leaves anything else a system error', () => {
    expect(errorKind(new SnapshotError('already-exists', 'x'))).toBe('conflict');
    expect(errorKind(new SnapshotError('invalid-argument', 'x'))).toBe('invalid-parameter');
    expect(errorKind(new Error('boom'))).toBe('system');
    // A look-alike object with a kind is not trusted any more.
    expect(errorKind(Object.assign(new Error('x'), { kind: 'not-found' }))).toBe('system');
  });
});

import { describe, expect, it } from 'vitest';
import { TypedError, invalidParameter } from './errors.js';

describe('TypedError', () => {
  it('carries its kind, message and cause; subclasses keep instanceof', () => {
    class NetworkError extends TypedError {}
    const cause = new Error('EEXIST');
    const err = new NetworkError('conflict', 'network with name x already exists', { cause });
    expect(err).toBeInstanceOf(TypedError);
    expect(err).toBeInstanceOf(Error);
    expect(err.kind).toBe('conflict');
    expect(err.message).toBe('network with name x already exists');
    expect(err.cause).toBe(cause);
    expect(invalidParameter('bad').kind).toBe('invalid-parameter');
  });
});

import { expect } from 'vitest';
import { NetworkError } from './errors.js';

// Helpers of this package's unit tests (not exported from index.ts, so never bundled).

/** The NetworkError `fn` throws; fails the test when it throws nothing or something else. */
export function thrown(fn: () => unknown): NetworkError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(NetworkError);
    return err as NetworkError;
  }
  throw new Error('expected a NetworkError');
}

/** The NetworkError `promise` rejects with; fails the test when it resolves or rejects otherwise. */
export async function rejection(promise: Promise<unknown>): Promise<NetworkError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NetworkError);
  return err as NetworkError;
}

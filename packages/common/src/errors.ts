/**
 * moby's errdefs kinds. Each package's error class extends {@link TypedError}, so the API layer
 * maps any of them to one HTTP status by its `kind` (not-found → 404, conflict → 409, …).
 */
export type ErrorKind =
  | 'not-found'
  | 'invalid-parameter'
  | 'conflict'
  | 'not-modified'
  | 'unavailable'
  | 'forbidden'
  | 'unauthorized'
  | 'not-implemented'
  | 'system';

/** An error with Docker's message text (clients match on it) and its errdefs kind. */
export class TypedError<K extends ErrorKind = ErrorKind> extends Error {
  constructor(
    readonly kind: K,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TypedError';
  }
}

/** The error this package's parsers throw for malformed input (HTTP 400). */
export const invalidParameter = (message: string) => new TypedError('invalid-parameter', message);

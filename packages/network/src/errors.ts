import { TypedError } from '@ts-container/common';

/**
 * Typed errors with moby's errdefs kind (the API layer maps each kind to one HTTP status)
 * and Docker's message text, because clients match on both.
 */
export type NetworkErrorKind =
  | 'not-found'
  | 'invalid-parameter'
  | 'conflict'
  | 'forbidden'
  | 'unavailable'
  | 'system';

export class NetworkError extends TypedError<NetworkErrorKind> {
  constructor(kind: NetworkErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = 'NetworkError';
  }
}

export const notFound = (message: string) => new NetworkError('not-found', message);
export const invalidParameter = (message: string) => new NetworkError('invalid-parameter', message);
export const conflict = (message: string) => new NetworkError('conflict', message);
export const forbidden = (message: string) => new NetworkError('forbidden', message);
export const systemError = (message: string, cause?: unknown) =>
  new NetworkError('system', message, cause === undefined ? undefined : { cause });

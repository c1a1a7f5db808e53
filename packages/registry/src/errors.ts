import { TypedError } from '@ts-container/common';

export type RegistryErrorKind = 'not-found' | 'unauthorized' | 'invalid-parameter' | 'unavailable' | 'system';

/** A registry failure with Docker's wording (clients and users match on it). */
export class RegistryError extends TypedError<RegistryErrorKind> {
  constructor(kind: RegistryErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = 'RegistryError';
  }
}

export type RegistryErrorKind = 'not-found' | 'unauthorized' | 'invalid-parameter' | 'unavailable' | 'system';

/** A registry failure with Docker's wording (clients and users match on it). */
export class RegistryError extends Error {
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RegistryError';
  }
}

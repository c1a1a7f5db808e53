import { TypedError } from '@ts-container/common';

/**
 * Typed errors with the kind the daemon maps to an HTTP status (moby's errdefs) and
 * Docker's message text, because clients match on both.
 */
export type ErrorKind = 'not-found' | 'invalid-parameter' | 'conflict' | 'unavailable' | 'system';

export class ImageError extends TypedError<ErrorKind> {
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = 'ImageError';
  }
}

export class InvalidReferenceError extends ImageError {
  constructor(message: string) {
    super('invalid-parameter', message);
    this.name = 'InvalidReferenceError';
  }
}

export class DigestMismatchError extends ImageError {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super('invalid-parameter', `digest mismatch: expected ${expected}, got ${actual}`);
    this.name = 'DigestMismatchError';
  }
}

export class NoSuchImageError extends ImageError {
  constructor(reference: string) {
    super('not-found', `No such image: ${reference}`);
    this.name = 'NoSuchImageError';
  }
}

/** An archive the client sent that cannot be unpacked safely or at all (a 4xx, never a 500). */
export class ArchiveError extends ImageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid-parameter', message, options);
    this.name = 'ArchiveError';
  }
}

export class UnsafeTarEntryError extends ArchiveError {
  constructor(entry: string, reason: string) {
    super(`refusing tar entry ${JSON.stringify(entry)}: ${reason}`);
    this.name = 'UnsafeTarEntryError';
  }
}

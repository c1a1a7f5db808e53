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

/** Node's errno codes that mean the disk (or quota) is full. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/**
 * A failure while unpacking → a typed error without host paths: the archive's fault is a
 * 4xx (`ArchiveError`), a full disk reads like Docker's `no space left on device`.
 */
export function archiveFailure(err: unknown): Error {
  if (err instanceof ImageError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code !== undefined && NO_SPACE.has(e.code)) return noSpaceError(e);
  if (e?.code === 'Z_DATA_ERROR' || e?.code === 'Z_BUF_ERROR' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE')
    return new ArchiveError('unexpected EOF', { cause: err });
  const message = e instanceof Error ? e.message : String(err);
  // tar-stream's wording for a stream that is not a tar, or one cut short (Go's archive/tar words).
  if (/Invalid tar header|Invalid pax header|Invalid tar/i.test(message))
    return new ArchiveError('archive/tar: invalid tar header', { cause: err });
  if (/Unexpected end of data|unexpected end of file/i.test(message))
    return new ArchiveError('unexpected EOF', { cause: err });
  if (e?.code === 'ELOOP') return new ArchiveError('too many levels of symbolic links', { cause: err });
  if (e?.code === 'ENAMETOOLONG') return new ArchiveError('file name too long', { cause: err });
  return err instanceof Error ? err : new Error(message);
}

/** Docker's message for a full disk, whatever path the failing write had. */
export function noSpaceError(cause?: unknown): ImageError {
  return new ImageError('system', 'no space left on device', { cause });
}

import { type ErrorKind, TypedError } from '@ts-container/common';
import { SnapshotError } from '@ts-container/unionfs';

/** moby's errdefs kinds (@ts-container/common); the API layer maps each to one HTTP status. */
export type EngineErrorKind = ErrorKind;

export class EngineError extends TypedError<EngineErrorKind> {
  constructor(kind: EngineErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = 'EngineError';
  }
}

export const notFound = (message: string) => new EngineError('not-found', message);
export const invalidParameter = (message: string) => new EngineError('invalid-parameter', message);
export const conflict = (message: string) => new EngineError('conflict', message);

/** The kind of any error the engine's packages throw: their classes all extend TypedError. */
export function errorKind(err: unknown): EngineErrorKind {
  if (err instanceof TypedError) return (err as TypedError).kind;
  // unionfs keeps containerd's snapshot vocabulary.
  if (err instanceof SnapshotError) {
    return err.kind === 'not-found'
      ? 'not-found'
      : err.kind === 'already-exists'
        ? 'conflict'
        : err.kind === 'invalid-argument'
          ? 'invalid-parameter'
          : 'conflict';
  }
  return 'system';
}

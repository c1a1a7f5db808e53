import { ImageError } from '@ts-container/image';
import { RuntimeError } from '@ts-container/runtime';
import { SnapshotError } from '@ts-container/unionfs';

/** moby's errdefs kinds; the API layer maps each to one HTTP status. */
export type EngineErrorKind =
  | 'not-found'
  | 'invalid-parameter'
  | 'conflict'
  | 'not-modified'
  | 'unavailable'
  | 'forbidden'
  | 'unauthorized'
  | 'not-implemented'
  | 'system';

export class EngineError extends Error {
  constructor(
    readonly kind: EngineErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EngineError';
  }
}

export const notFound = (message: string) => new EngineError('not-found', message);
export const invalidParameter = (message: string) => new EngineError('invalid-parameter', message);
export const conflict = (message: string) => new EngineError('conflict', message);

/** The kind of any error the engine's packages throw. */
export function errorKind(err: unknown): EngineErrorKind {
  if (err instanceof EngineError) return err.kind;
  if (err instanceof ImageError || err instanceof RuntimeError) return err.kind;
  if (err instanceof SnapshotError) {
    return err.kind === 'not-found'
      ? 'not-found'
      : err.kind === 'already-exists'
        ? 'conflict'
        : err.kind === 'invalid-argument'
          ? 'invalid-parameter'
          : 'conflict';
  }
  const withKind = err as { kind?: unknown };
  if (
    typeof withKind?.kind === 'string' &&
    ['not-found', 'invalid-parameter', 'conflict', 'unavailable', 'forbidden', 'unauthorized'].includes(
      withKind.kind,
    )
  ) {
    return withKind.kind as EngineErrorKind;
  }
  return 'system';
}

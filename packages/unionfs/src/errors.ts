export type SnapshotErrorKind = 'not-found' | 'already-exists' | 'failed-precondition' | 'invalid-argument';

export class SnapshotError extends Error {
  constructor(
    readonly kind: SnapshotErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'SnapshotError';
  }
}

export type RuntimeErrorKind = 'not-found' | 'invalid-parameter' | 'conflict' | 'unavailable' | 'system';

export class RuntimeError extends Error {
  constructor(
    readonly kind: RuntimeErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RuntimeError';
  }
}

/**
 * The container's process could not be started (OCI runtime `create` failed). `exitCode` is
 * the one Docker's CLI gives: 127 for a command not found, 126 for one that cannot be run.
 */
export class ContainerStartError extends RuntimeError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super('system', message);
    this.name = 'ContainerStartError';
  }
}

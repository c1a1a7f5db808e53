/** An error answer from the Engine API: its HTTP status and Docker's `{"message": …}` text. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The daemon could not be reached at all (no socket, connection refused). */
export class DaemonUnreachableError extends Error {
  constructor(
    readonly socketPath: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Cannot connect to the Docker daemon at unix://${socketPath}. Is the docker daemon running?`,
      options,
    );
    this.name = 'DaemonUnreachableError';
  }
}

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

/**
 * The daemon could not be reached at all (no socket, connection refused), or the caller may not
 * use its socket (`permission`): the docker CLI tells the two apart, and so do we.
 */
export class DaemonUnreachableError extends Error {
  constructor(
    /** The endpoint as a Docker host URL: `unix:///run/tsctr/tsctr.sock`, `tcp://10.0.0.1:2376`. */
    readonly host: string,
    options?: { cause?: unknown; reason?: 'unreachable' | 'permission' },
  ) {
    super(
      options?.reason === 'permission'
        ? `permission denied while trying to connect to the Docker daemon socket at ${host}: connect: permission denied`
        : `Cannot connect to the Docker daemon at ${host}. Is the docker daemon running?`,
      options,
    );
    this.name = 'DaemonUnreachableError';
    this.reason = options?.reason ?? 'unreachable';
  }
  readonly reason: 'unreachable' | 'permission';
}

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

/** One way a response body differs from its schema: where (a JSON path) and how. */
export interface ResponseIssue {
  path: (string | number)[];
  message: string;
}

/**
 * The daemon answered with a body the client's schema does not accept: a daemon (or proxy) that
 * speaks another API than this client. `endpoint` is `METHOD /path`.
 */
export class ApiResponseError extends Error {
  constructor(
    readonly endpoint: string,
    readonly issues: ResponseIssue[],
  ) {
    const first = issues[0];
    super(
      `unexpected response from ${endpoint}: ${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'invalid body'}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`,
    );
    this.name = 'ApiResponseError';
  }
}

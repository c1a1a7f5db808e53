import { TypedError } from '@ts-container/common';

/**
 * Typed errors with the kind the daemon maps to an HTTP status (moby's errdefs) and Docker's
 * message text, because clients (and people) match on both.
 */
export type BuilderErrorKind = 'invalid-parameter' | 'not-found' | 'system';

export class BuilderError extends TypedError<BuilderErrorKind> {
  constructor(kind: BuilderErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = 'BuilderError';
  }
}

/**
 * A Dockerfile that cannot be parsed or whose instructions are invalid. The message is
 * BuildKit's: `dockerfile parse error on line 3: unknown instruction: RUNN (did you mean run?)`.
 * `line` is 1-based, absent for errors that concern the whole file.
 */
export class DockerfileParseError extends BuilderError {
  readonly line: number | undefined;
  /** The message without the `dockerfile parse error on line N: ` prefix. */
  readonly detail: string;
  constructor(detail: string, line?: number) {
    super(
      'invalid-parameter',
      line === undefined ? detail : `dockerfile parse error on line ${line}: ${detail}`,
    );
    this.name = 'DockerfileParseError';
    this.line = line;
    this.detail = detail;
  }
}

/** A variable substitution that fails (`${VAR:?message}`, `${}`, an unterminated quote...). */
export class ShellExpansionError extends BuilderError {
  constructor(message: string) {
    super('invalid-parameter', message);
    this.name = 'ShellExpansionError';
  }
}

/** A problem with the build context: a missing COPY source, a bad .dockerignore, a bad tar. */
export class BuildContextError extends BuilderError {
  constructor(message: string, kind: BuilderErrorKind = 'invalid-parameter', options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = 'BuildContextError';
  }
}

/**
 * A build of a partial context (the client sent only the files the Dockerfile names) read a
 * source the client did not send: an ONBUILD trigger's, or one behind a symlink. The client
 * sends the whole context again; the message starts with {@link PARTIAL_CONTEXT_MESSAGE}.
 */
export class PartialContextError extends BuildContextError {
  constructor(readonly source: string) {
    super(`${PARTIAL_CONTEXT_MESSAGE}: ${source}`);
    this.name = 'PartialContextError';
  }
}

/** How a {@link PartialContextError}'s message starts, for clients to recognise it. */
export const PARTIAL_CONTEXT_MESSAGE = 'the build reads a file the client did not send';

/** A step that failed while building, e.g. `The command '/bin/sh -c false' returned a non-zero code: 1`. */
export class BuildError extends BuilderError {
  constructor(
    message: string,
    readonly exitCode?: number,
    options?: { cause?: unknown },
  ) {
    super('system', message, options);
    this.name = 'BuildError';
  }
}

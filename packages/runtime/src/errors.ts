import { TypedError } from '@ts-container/common';

export type RuntimeErrorKind = 'not-found' | 'invalid-parameter' | 'conflict' | 'unavailable' | 'system';

export class RuntimeError extends TypedError<RuntimeErrorKind> {
  constructor(kind: RuntimeErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
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

/** An OCI runtime's complaint about a command it could not start, as Docker words it. */
export interface CommandFailure {
  /** The runtime's message, runc's and crun's put the same way (`exec: "x": executable file not found in $PATH`). */
  message: string;
  /** `docker run`'s and `docker exec`'s exit code: 127 not found, 126 not executable, 125 otherwise. */
  exitCode: 125 | 126 | 127;
}

/** Whether runtime output is its complaint that the command could not start (runc's or crun's words). */
export function isCommandFailure(text: string): boolean {
  return /exec failed|unable to start container process|executable file `.*` not found in \$PATH|open executable: /.test(
    text,
  );
}

/**
 * Reads an OCI runtime's complaint (runc logs logfmt `msg="…"`, crun plain text) the way Docker
 * reports it: crun's wording for a missing or unexecutable command is put in runc's, which is
 * what Docker users see and scripts match.
 */
export function commandFailureFrom(text: string): CommandFailure {
  const quoted = /msg="((?:[^"\\]|\\.)*)"/.exec(text);
  let message = quoted ? (JSON.parse(`"${quoted[1]}"`) as string) : text.trim();
  const crunNotFound = /executable file `(.*)` not found in \$PATH(?:: No such file or directory)?/.exec(
    message,
  );
  if (crunNotFound) message = `exec: "${crunNotFound[1]}": executable file not found in $PATH`;
  else if (/^open executable: Permission denied/.test(message)) message = 'exec: permission denied';
  if (/exec: .*(executable file not found|no such file or directory)/.test(message))
    return { message, exitCode: 127 };
  if (/exec: .*(permission denied|is a directory)/.test(message)) return { message, exitCode: 126 };
  return { message, exitCode: 125 };
}

/** What an OCI runtime's JSON `--log` of one exec holds. */
export interface ExecLog {
  /** The runtime's messages (`{"msg":…,"level":…}` lines). */
  messages: { level: string; msg: string }[];
  /**
   * Terminal output the process wrote that the runtime had not relayed when the process
   * exited: crun writes it raw into its log, each read of up to 255 bytes followed by a newline.
   */
  output: Buffer;
}

/** crun reads the leftover terminal output in chunks of this many bytes (a 256-byte buffer, NUL-terminated). */
const CRUN_FLUSH_CHUNK = 255;

export function readExecLog(log: Buffer): ExecLog {
  const messages: ExecLog['messages'] = [];
  const raw: Buffer[] = [];
  let at = 0;
  while (at < log.length) {
    const nl = log.indexOf(10, at);
    const end = nl < 0 ? log.length : nl + 1;
    const line = log.subarray(at, end);
    const record = parseLogRecord(line.toString('utf8'));
    if (record) messages.push(record);
    else raw.push(line);
    at = end;
  }
  // Undo crun's framing: a newline after every full chunk and after the last one.
  const text = Buffer.concat(raw);
  const out: Buffer[] = [];
  for (let i = 0; i < text.length; i += CRUN_FLUSH_CHUNK + 1) {
    const chunk = text.subarray(i, Math.min(i + CRUN_FLUSH_CHUNK + 1, text.length));
    out.push(chunk.at(-1) === 10 ? chunk.subarray(0, -1) : chunk);
  }
  return { messages, output: Buffer.concat(out) };
}

function parseLogRecord(line: string): { level: string; msg: string } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as { level?: unknown; msg?: unknown };
    if (typeof v.msg === 'string' && typeof v.level === 'string') return { level: v.level, msg: v.msg };
  } catch {
    // not one of the runtime's records: terminal output that happens to start with a brace
  }
  return undefined;
}

import { open } from 'node:fs/promises';

/**
 * One record of a container log. conmon writes them in the k8s-file format
 * (`<RFC3339Nano> <stdout|stderr> <P|F> <text>`), the engine keeps them in Docker's json-file.
 */
export interface LogRecord {
  time: string;
  stream: 'stdout' | 'stderr';
  /** The text, with a trailing newline when the record completed a line (F). */
  text: string;
}

/**
 * One line of Docker's json-file log: `{"log":"text\n","stream":"stdout","time":"…Z"}`. The
 * time is RFC 3339 with nanoseconds, in UTC as dockerd writes it.
 */
export function formatJsonLogLine(r: LogRecord): string {
  const time = r.time.endsWith('+00:00') ? `${r.time.slice(0, -6)}Z` : r.time;
  return `${JSON.stringify({ log: r.text, stream: r.stream, time })}\n`;
}

/** A line of either format: Docker's json-file (what the engine keeps) or conmon's k8s-file. */
export function parseLogLine(line: string): LogRecord | undefined {
  if (line.startsWith('{')) return parseJsonLogLine(line);
  return parseK8sLogLine(line);
}

function parseJsonLogLine(line: string): LogRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined; // a torn line (a crash mid-write) is skipped, as dockerd's reader does
  }
  const v = value as { log?: unknown; stream?: unknown; time?: unknown };
  if (typeof v.log !== 'string' || typeof v.time !== 'string') return undefined;
  if (v.stream !== 'stdout' && v.stream !== 'stderr') return undefined;
  return { time: v.time, stream: v.stream, text: v.log };
}

function parseK8sLogLine(line: string): LogRecord | undefined {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  const c = line.indexOf(' ', b + 1);
  if (a < 0 || b < 0) return undefined;
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  const body = c < 0 ? '' : line.slice(c + 1);
  return { time: line.slice(0, a), stream, text: tag.includes('P') ? body : `${body}\n` };
}

/**
 * Reads log records from byte `offset` up to the last complete line; returns them and the
 * offset to continue from (a half-written last line is left for the next read).
 */
export async function readLogRecords(
  path: string,
  offset: number,
): Promise<{ records: LogRecord[]; offset: number }> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], offset };
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    // conmon truncates the file when it reaches --log-size-max: start again from the top.
    if (size < offset) offset = 0;
    if (size === offset) return { records: [], offset };
    const buf = Buffer.alloc(size - offset);
    await fh.read(buf, 0, buf.length, offset);
    const end = buf.lastIndexOf(0x0a);
    if (end < 0) return { records: [], offset };
    const records: LogRecord[] = [];
    for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
      const record = parseLogLine(line);
      if (record) records.push(record);
    }
    return { records, offset: offset + end + 1 };
  } finally {
    await fh.close();
  }
}

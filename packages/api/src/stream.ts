import { Transform, type TransformCallback } from 'node:stream';

/** Stream IDs of Docker's multiplexed attach/logs format (application/vnd.docker.multiplexed-stream). */
export const StreamType = { stdin: 0, stdout: 1, stderr: 2 } as const;
export type StreamName = keyof typeof StreamType;

/** One frame: [type, 0, 0, 0, size (uint32 BE)] followed by the payload. */
export function encodeFrame(stream: StreamName, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = StreamType[stream];
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** A run of output from one stream: one frame's payload, or several consecutive frames' joined. */
export interface StreamOutput {
  stream: StreamName;
  payload: Buffer;
}

/**
 * Splits a multiplexed stream, fed chunk by chunk as it arrives, into its frames' payloads.
 * Consecutive frames of one stream in a chunk come out joined: a reader of `logs` of a million
 * lines writes once per chunk received rather than once per line, in the same order.
 */
export class FrameSplitter {
  private pending: Buffer = Buffer.alloc(0);

  /** What `chunk` completes, in order. */
  push(chunk: Buffer): StreamOutput[] {
    const data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: StreamOutput[] = [];
    // Payloads are copied side by side into one buffer and each run is a view of it: one
    // allocation per chunk, and no object per frame (Bun's subarray costs as much as the copy
    // of a short line).
    const joined = Buffer.allocUnsafe(data.length);
    let written = 0;
    let runStart = 0;
    let runStream: StreamName | undefined;
    const endRun = () => {
      if (runStream !== undefined && written > runStart)
        out.push({ stream: runStream, payload: joined.subarray(runStart, written) });
      runStart = written;
    };
    let pos = 0;
    while (data.length - pos >= 8) {
      const size = data.readUInt32BE(pos + 4);
      if (data.length - pos < 8 + size) break;
      const type = data[pos];
      const stream: StreamName = type === 2 ? 'stderr' : type === 0 ? 'stdin' : 'stdout';
      const start = pos + 8;
      pos = start + size;
      if (size === 0) continue;
      if (stream !== runStream) {
        endRun();
        runStream = stream;
      }
      written += data.copy(joined, written, start, pos);
    }
    endRun();
    // A partial frame is kept as its own copy: the chunk it came from can then be collected.
    this.pending = pos === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(pos));
    return out;
  }
}

/** Splits a multiplexed stream; emits a `StreamOutput` per run of one stream's frames (FrameSplitter). */
export type FrameDecoder = Transform;

/**
 * `new FrameDecoder()`: a Transform made on call rather than a class extending one, so that
 * loading this module does not load node:stream (a CLI command that never decodes frames
 * would pay for it at start-up).
 */
export const FrameDecoder = function FrameDecoder(): Transform {
  const splitter = new FrameSplitter();
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      for (const output of splitter.push(chunk)) this.push(output);
      cb();
    },
  });
} as unknown as new () => Transform;

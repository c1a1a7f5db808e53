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

/** Splits a multiplexed stream into frames; emits `{ stream, payload }` objects. */
export type FrameDecoder = Transform;

/**
 * `new FrameDecoder()`: a Transform made on call rather than a class extending one, so that
 * loading this module does not load node:stream (a CLI command that never decodes frames
 * would pay for it at start-up).
 */
export const FrameDecoder = function FrameDecoder(): Transform {
  let pending: Buffer = Buffer.alloc(0);
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 8) {
        const size = pending.readUInt32BE(4);
        if (pending.length < 8 + size) break;
        const type = pending[0];
        const stream: StreamName = type === 2 ? 'stderr' : type === 0 ? 'stdin' : 'stdout';
        this.push({ stream, payload: pending.subarray(8, 8 + size) });
        pending = pending.subarray(8 + size);
      }
      cb();
    },
  });
} as unknown as new () => Transform;

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
export class FrameDecoder extends Transform {
  private pending: Buffer = Buffer.alloc(0);

  constructor() {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const type = this.pending[0];
      const stream: StreamName = type === 2 ? 'stderr' : type === 0 ? 'stdin' : 'stdout';
      this.push({ stream, payload: this.pending.subarray(8, 8 + size) });
      this.pending = this.pending.subarray(8 + size);
    }
    cb();
  }
}

import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, encodeFrame } from './stream.js';
import { compareApiVersions, splitVersionedPath } from './versions.js';

describe('multiplexed stream', () => {
  it('round-trips frames split across chunks', async () => {
    const data = Buffer.concat([
      encodeFrame('stdout', Buffer.from('hello\n')),
      encodeFrame('stderr', Buffer.from('oops')),
    ]);
    const chunks = [data.subarray(0, 3), data.subarray(3, 11), data.subarray(11)];
    const frames: Array<{ stream: string; payload: Buffer }> = [];
    for await (const f of Readable.from(chunks).pipe(new FrameDecoder())) frames.push(f);
    expect(frames.map((f) => [f.stream, f.payload.toString()])).toEqual([
      ['stdout', 'hello\n'],
      ['stderr', 'oops'],
    ]);
  });
});

describe('API versions', () => {
  it('splits versioned paths and compares versions numerically', () => {
    expect(splitVersionedPath('/v1.47/containers/json')).toEqual({
      version: '1.47',
      path: '/containers/json',
    });
    expect(splitVersionedPath('/_ping')).toEqual({ path: '/_ping' });
    expect(compareApiVersions('1.9', '1.10')).toBeLessThan(0);
    expect(compareApiVersions('1.47', '1.47')).toBe(0);
  });
});

import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameSplitter, encodeFrame } from './stream.js';
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

  it('joins consecutive frames of one stream within a chunk, and keeps the order across streams', () => {
    const frames = [
      encodeFrame('stdout', Buffer.from('a\n')),
      encodeFrame('stdout', Buffer.from('b\n')),
      encodeFrame('stderr', Buffer.from('e\n')),
      encodeFrame('stdout', Buffer.alloc(0)),
      encodeFrame('stdout', Buffer.from('c\n')),
      encodeFrame('stdout', Buffer.from('d\n')),
    ];
    const data = Buffer.concat(frames);
    const splitter = new FrameSplitter();
    const cut = data.length - 5; // the last frame arrives in two pieces
    const outputs = [...splitter.push(data.subarray(0, cut)), ...splitter.push(data.subarray(cut))];
    expect(outputs.map((o) => [o.stream, o.payload.toString()])).toEqual([
      ['stdout', 'a\nb\n'],
      ['stderr', 'e\n'],
      ['stdout', 'c\n'],
      ['stdout', 'd\n'],
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

import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { releaseMemoryWhenIdle } from './idle-memory.js';

const get = (port: number) =>
  new Promise<void>((resolve, reject) => {
    request({ port, path: '/' }, (res) => res.resume().on('end', resolve))
      .on('error', reject)
      .end();
  });

describe('releaseMemoryWhenIdle', () => {
  const g = globalThis as { gc?: (() => void) | undefined };
  const saved = g.gc;
  afterEach(() => {
    g.gc = saved;
  });

  it('collects once after a burst of requests, and not while nothing happened', async () => {
    const gc = vi.fn();
    g.gc = gc;
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const stop = releaseMemoryWhenIdle(server, 100);
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(gc).not.toHaveBeenCalled();
      const { port } = server.address() as AddressInfo;
      await get(port);
      await get(port);
      await vi.waitFor(() => expect(gc).toHaveBeenCalledTimes(1), { timeout: 10_000 });
      await new Promise((r) => setTimeout(r, 300));
      expect(gc).toHaveBeenCalledTimes(1);
    } finally {
      stop();
      server.close();
    }
  });
});

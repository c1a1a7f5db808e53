import { describe, expect, it } from 'vitest';
import { TerminalProgress, progressBar } from './pull.js';

describe('pull/push progress on a terminal', () => {
  it('draws Docker’s 50-column bar with sizes', () => {
    expect(progressBar(0, 1000)).toBe(`[${' '.repeat(50)}]       0B/1kB`);
    expect(progressBar(2_600_000, 5_200_000)).toBe(`[${'='.repeat(24)}>${' '.repeat(25)}]    2.6MB/5.2MB`);
    expect(progressBar(5_200_000, 5_200_000)).toBe(`[${'='.repeat(49)}>]    5.2MB/5.2MB`);
  });

  it('keeps one line per layer and redraws it in place', () => {
    let screen = '';
    const progress = new TerminalProgress({ write: (t: string) => (screen += t) });
    progress.show({ status: 'Pulling from library/busybox', id: 'latest' });
    progress.show({ status: 'Pulling fs layer', id: 'aaa' });
    progress.show({ status: 'Pulling fs layer', id: 'bbb' });
    screen = '';
    progress.show({ status: 'Downloading', id: 'aaa', progressDetail: { current: 500, total: 1000 } });
    // aaa is two lines above the cursor: up 2, clear, redraw, down 2.
    expect(screen).toBe(`\x1b[2A\x1b[2K\raaa: Downloading ${progressBar(500, 1000)}\x1b[2B\r`);
    screen = '';
    progress.show({ status: 'Digest: sha256:abc' });
    expect(screen).toBe('\x1b[2K\rDigest: sha256:abc\n');
  });
});

/**
 * The body of a layer-writer thread (see layer-writer.ts). It runs as the source of an `eval`
 * worker, so it must stand alone: no imports and no outer names, only `require` of built-ins.
 *
 * A thread is given entries of a checked layer (pre-scanned: canonical unique names, no path
 * through a symlink, every parent a directory entry, an empty target) and writes them with
 * synchronous system calls, the fewest per entry: a regular file is `open(O_CREAT|O_EXCL|
 * O_NOFOLLOW, mode)`, one `write` of its whole body (from one big read of the tarball covering
 * many entries), `futimens`, `close`; `fchown` only when the owner is not the creator's,
 * `fchmod` only when the umask or a special bit would change the mode. Mode, owner and pax
 * owner overrides are decoded from the entry's own header bytes, read with its body.
 */
export function layerWriterThread(load: (id: string) => unknown): void {
  const { parentPort, workerData } = load('node:worker_threads') as typeof import('node:worker_threads');
  const fs = load('node:fs') as typeof import('node:fs');
  interface Job {
    name: string;
    kind: 'directory' | 'file' | 'symlink';
    start: number;
    end: number;
    size: number;
    /** Seconds since the epoch. */
    mtime: number;
    linkname: string;
  }
  const { umask, euid, egid } = workerData as { umask: number; euid: number; egid: number };
  // The layer being written (each message names one).
  let input = -1;
  let target = '';
  const CHUNK = 4 << 20;
  // libuv adds O_CLOEXEC itself.
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const CREATE = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
  let buf = Buffer.allocUnsafe(CHUNK);
  let bufStart = 0;
  let bufEnd = 0;

  /** Makes bytes [from, to) of the tarball readable at `buf[from - bufStart]`. */
  const cover = (from: number, to: number) => {
    if (from >= bufStart && to <= bufEnd) return;
    if (to - from > buf.length) buf = Buffer.allocUnsafe(to - from);
    let got = 0;
    while (got < to - from) {
      const n = fs.readSync(input, buf, got, buf.length - got, from + got);
      if (n === 0) throw new Error('the layer shrank while being extracted');
      got += n;
    }
    bufStart = from;
    bufEnd = from + got;
  };
  /** A tar numeric field: octal, or base-256 (GNU) when its top bit is set. */
  const num = (at: number, len: number): number => {
    let n = 0;
    if ((buf[at]! & 0x80) !== 0) {
      for (let i = 1; i < len; i++) n = n * 256 + buf[at + i]!;
      return n;
    }
    // Octal digits, after optional spaces, up to a NUL or space.
    let i = at;
    while (i < at + len && buf[i] === 0x20) i++;
    for (; i < at + len; i++) {
      const c = buf[i]!;
      if (c < 0x30 || c > 0x37) break;
      n = n * 8 + (c - 0x30);
    }
    return n;
  };
  /** Mode and owner of the entry whose ustar header block is at `header`; pax records override ids. */
  const decode = (job: Job, header: number) => {
    const at = header - bufStart;
    const meta = { mode: num(at + 100, 8) & 0o7777, uid: num(at + 108, 8), gid: num(at + 116, 8) };
    // Extended headers before the ustar block: pax `uid`/`gid` records win over the fields.
    for (let pos = job.start; pos < header; ) {
      const ext = pos - bufStart;
      const size = num(ext + 124, 12);
      const body = buf.subarray(ext + 512, ext + 512 + size);
      if (buf[ext + 156] === 0x78 /* 'x' */) {
        for (let off = 0; off < body.length; ) {
          const space = body.indexOf(0x20, off);
          const len = space < 0 ? 0 : Number.parseInt(body.toString('latin1', off, space), 10);
          if (!(len > 0)) break;
          const record = body.toString('utf8', space + 1, off + len - 1);
          const id = Number(record.slice(4));
          if (Number.isSafeInteger(id) && id >= 0) {
            if (record.startsWith('uid=')) meta.uid = id;
            else if (record.startsWith('gid=')) meta.gid = id;
          }
          off += len;
        }
      }
      pos += 512 + Math.ceil(size / 512) * 512;
    }
    return meta;
  };
  const needsChmod = (mode: number) => (mode & 0o7000) !== 0 || (mode & umask) !== 0;

  const write = (jobs: Job[], setgidDirs: Set<string>): string[] => {
    const madeSetgid: string[] = [];
    for (const job of jobs) {
      const path = job.name === '' ? target : `${target}/${job.name}`;
      const slash = job.name.lastIndexOf('/');
      const parentSetgid = setgidDirs.has(slash < 0 ? '' : job.name.slice(0, slash));
      if (job.kind === 'file') {
        const padded = Math.ceil(job.size / 512) * 512;
        const header = job.end - padded - 512;
        const dataStart = header + 512;
        // Small entries come with their headers in one read; a big body streams through the buffer.
        if (job.end - job.start <= CHUNK) cover(job.start, job.end);
        else cover(job.start, dataStart);
        const meta = decode(job, header);
        const fd = fs.openSync(path, CREATE, meta.mode & 0o777);
        try {
          if (job.end - job.start <= CHUNK) {
            for (let off = dataStart - bufStart, left = job.size; left > 0; ) {
              const n = fs.writeSync(fd, buf, off, left);
              off += n;
              left -= n;
            }
          } else {
            const dataEnd = dataStart + job.size;
            for (let at = dataStart; at < dataEnd; ) {
              bufEnd = bufStart = 0; // forget the window: this read lands at buf[0]
              cover(at, Math.min(at + CHUNK, dataEnd));
              const len = Math.min(bufEnd, dataEnd) - at;
              for (let off = 0; off < len; ) off += fs.writeSync(fd, buf, off, len - off);
              at += len;
            }
          }
          if (meta.uid !== euid || meta.gid !== egid || parentSetgid) fs.fchownSync(fd, meta.uid, meta.gid);
          if (needsChmod(meta.mode)) fs.fchmodSync(fd, meta.mode);
          fs.futimesSync(fd, job.mtime, job.mtime);
        } finally {
          fs.closeSync(fd);
        }
        continue;
      }
      const header = job.end - 512;
      cover(job.start, job.end);
      const meta = decode(job, header);
      const chown = meta.uid !== euid || meta.gid !== egid || parentSetgid;
      if (job.kind === 'symlink') {
        fs.symlinkSync(job.linkname, path);
        if (chown) fs.lchownSync(path, meta.uid, meta.gid);
        fs.lutimesSync(path, job.mtime, job.mtime);
        continue;
      }
      // A directory: its time is set by the caller once everything inside it is written.
      if (job.name !== '') fs.mkdirSync(path, meta.mode & 0o777);
      if (chown || job.name === '') fs.chownSync(path, meta.uid, meta.gid);
      if (needsChmod(meta.mode) || parentSetgid || job.name === '') fs.chmodSync(path, meta.mode);
      if ((meta.mode & 0o2000) !== 0) madeSetgid.push(job.name);
    }
    return madeSetgid;
  };

  /** sha256 of the whole file, read in big synchronous reads. */
  const hash = (): string => {
    const { createHash } = load('node:crypto') as typeof import('node:crypto');
    const digest = createHash('sha256');
    for (let at = 0; ; ) {
      const n = fs.readSync(input, buf, 0, buf.length, at);
      if (n === 0) break;
      digest.update(buf.subarray(0, n));
      at += n;
    }
    bufStart = bufEnd = 0;
    return digest.digest('hex');
  };

  parentPort!.on('message', (msg: { layer: string; target: string; jobs: Job[]; setgidDirs: string[] }) => {
    try {
      input = fs.openSync(msg.layer, 'r');
      if (msg.target === '') {
        parentPort!.postMessage({ sha256: hash() });
        return;
      }
      target = msg.target;
      bufStart = bufEnd = 0;
      const setgid = write(msg.jobs, new Set(msg.setgidDirs));
      parentPort!.postMessage({ setgid });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      parentPort!.postMessage({ error: { message: e.message, code: e.code } });
    } finally {
      if (input >= 0) fs.closeSync(input);
      input = -1;
    }
  });
}

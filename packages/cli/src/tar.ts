/**
 * A minimal ustar reader and writer for small archives held in memory (context export/import).
 * GNU tar rejects the docker CLI's context archives (they end without the two zero blocks),
 * so the reader stops at the first empty header or at the end of the data.
 */
export interface TarEntry {
  name: string;
  /** Absent for directories (names ending in `/`). */
  data?: Buffer;
  mode: number;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

export function writeTar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const header = Buffer.alloc(512);
    const size = e.data?.length ?? 0;
    header.write(e.name, 0, 100, 'utf8');
    header.write(octal(e.mode, 8), 100, 'latin1');
    header.write(octal(0, 8), 108, 'latin1');
    header.write(octal(0, 8), 116, 'latin1');
    header.write(octal(size, 12), 124, 'latin1');
    header.write(octal(0, 12), 136, 'latin1');
    header.write('        ', 148, 'latin1');
    header.write(e.data ? '0' : '5', 156, 'latin1');
    header.write('ustar\x0000', 257, 'latin1');
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    blocks.push(header);
    if (e.data) {
      blocks.push(e.data);
      if (size % 512 !== 0) blocks.push(Buffer.alloc(512 - (size % 512)));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export function readTar(data: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let offset = 0;
  while (offset + 512 <= data.length) {
    const header = data.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, len: number) =>
      header
        .subarray(start, start + len)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const prefix = field(345, 155);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    offset += 512;
    const mode = Number.parseInt(field(100, 8).trim() || '0', 8);
    if (type === '0' || type === '') out.push({ name, data: data.subarray(offset, offset + size), mode });
    else if (type === '5') out.push({ name, mode });
    offset += Math.ceil(size / 512) * 512;
  }
  return out;
}

import tar from 'tar-stream';

/** A tar entry for tests: any header fields, and the body of a regular file. */
export type TestTarEntry = Partial<tar.Header> & { name: string; body?: string };

/** Packs `entries` into a tar archive in memory (test fixtures; not part of the package's API). */
export async function makeTar(entries: TestTarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const { body, ...header } of entries) pack.entry(header as tar.Header, body ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

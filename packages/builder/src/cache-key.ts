import { createHash } from 'node:crypto';

/** A step's cache key: the sha256 of what decides its result (instruction, config, source checksums). */
export function cacheKeyOf(parts: unknown): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(parts)).digest('hex')}`;
}

/** An image ID as the classic builder prints it (` ---> 0123456789ab`). */
export const shortId = (id: string | null): string => (id ?? '').replace(/^sha256:/, '').slice(0, 12);

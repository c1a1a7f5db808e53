import { tmpdir } from 'node:os';
import { overlaySupported } from '@ts-container/unionfs';

/** Why overlay-backed tests cannot run here (not root, or no overlayfs on the temp directory), if so. */
export async function overlaySkipReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (overlay mounts)';
  if (!(await overlaySupported(tmpdir()))) return `overlayfs does not work on ${tmpdir()}`;
  return undefined;
}

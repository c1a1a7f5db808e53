import { execa } from 'execa';

/** A tool's version as `runc --version` / `crun --version` / `conmon --version` print it. */
export interface ToolVersion {
  version: string;
  commit: string;
}

const asked = new Map<string, Promise<ToolVersion>>();

/**
 * The version and commit of an OCI runtime or of conmon, asked once per process. A tool that
 * cannot be run reports empty strings (Docker shows what it knows, and `version` still answers).
 */
export function toolVersion(path: string): Promise<ToolVersion> {
  let found = asked.get(path);
  if (!found) {
    found = execa(path, ['--version'], { reject: false }).then((r) => ({
      version: /version:?\s+([^\s]+)/.exec(r.stdout ?? '')?.[1] ?? '',
      commit: /commit:\s+([^\s]+)/.exec(r.stdout ?? '')?.[1] ?? '',
    }));
    asked.set(path, found);
  }
  return found;
}

import type { ImageConfig } from '@ts-container/image';
import { invalidParameter } from './errors.js';

/** Instructions `docker import -c` and `docker commit -c` accept (Docker's list). */
const ALLOWED = new Set([
  'CMD',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'LABEL',
  'ONBUILD',
  'USER',
  'VOLUME',
  'WORKDIR',
  'STOPSIGNAL',
]);

/** Applies Dockerfile-style changes (`CMD ["sh"]`, `ENV A=b`) to an image config. */
export function applyConfigChanges(config: ImageConfig, changes: string[]): ImageConfig {
  const next = structuredClone(config);
  const run = (next.config ??= {});
  for (const change of changes) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(change);
    if (!m) throw invalidParameter(`dockerfile parse error line 1: unknown instruction: ${change}`);
    const instruction = m[1]!.toUpperCase();
    const rest = m[2]!.trim();
    if (!ALLOWED.has(instruction)) throw invalidParameter(`${instruction} is not a valid change command`);
    switch (instruction) {
      case 'CMD':
        run.Cmd = execForm(rest);
        break;
      case 'ENTRYPOINT':
        run.Entrypoint = execForm(rest);
        break;
      case 'ENV':
        for (const [k, v] of keyValues(rest, 'ENV')) {
          run.Env = [...(run.Env ?? []).filter((e) => e.split('=')[0] !== k), `${k}=${v}`];
        }
        break;
      case 'LABEL':
        run.Labels = { ...(run.Labels ?? {}), ...Object.fromEntries(keyValues(rest, 'LABEL')) };
        break;
      case 'EXPOSE':
        for (const p of rest.split(/\s+/).filter(Boolean))
          run.ExposedPorts = { ...(run.ExposedPorts ?? {}), [p.includes('/') ? p : `${p}/tcp`]: {} };
        break;
      case 'VOLUME':
        for (const v of rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/))
          run.Volumes = { ...(run.Volumes ?? {}), [v]: {} };
        break;
      case 'USER':
        run.User = rest;
        break;
      case 'WORKDIR':
        run.WorkingDir = rest.startsWith('/')
          ? rest
          : `${run.WorkingDir || '/'}/${rest}`.replace(/\/+/g, '/');
        break;
      case 'STOPSIGNAL':
        run.StopSignal = rest;
        break;
      case 'ONBUILD':
        run.OnBuild = [...(run.OnBuild ?? []), rest];
        break;
    }
  }
  return next;
}

function execForm(rest: string): string[] {
  if (rest.startsWith('[')) {
    try {
      const parsed = JSON.parse(rest) as unknown;
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed;
    } catch {
      // not JSON: Docker falls back to the shell form
    }
  }
  return ['/bin/sh', '-c', rest];
}

function keyValues(rest: string, instruction: string): Array<[string, string]> {
  if (!rest.includes('=')) {
    const i = rest.search(/\s/);
    if (i < 0) throw invalidParameter(`${instruction} requires at least one argument`);
    return [[rest.slice(0, i), rest.slice(i + 1).trim()]];
  }
  const out: Array<[string, string]> = [];
  const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest))) {
    let v = m[2]!;
    if (v.startsWith('"')) v = JSON.parse(v) as string;
    else if (v.startsWith("'")) v = v.slice(1, -1);
    out.push([m[1]!, v]);
  }
  return out;
}

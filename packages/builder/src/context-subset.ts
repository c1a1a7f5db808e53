import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { type BuildContext, GLOB_CHARS, cleanSource, pathMatcher } from './context.js';
import { type Instruction, parseInstructions } from './instructions.js';
import { parseDockerfile } from './parser.js';

/**
 * What a build reads of its context, known before the build: the client can then send only
 * those files, as BuildKit transfers only what a build reads. A 1 GiB context of which the
 * Dockerfile copies one file is sent as that file.
 *
 * The answer is a list of COPY/ADD sources as written (a glob stays a glob), or undefined
 * whenever the Dockerfile alone cannot tell: `COPY .`, a source built from variables or escapes,
 * `RUN --mount`, `COPY --parents`, an ONBUILD of this Dockerfile, or a Dockerfile that does not
 * parse (the daemon reports that). The daemon checks every source it reads against the list it
 * was sent ({@link PartialContextError}), which covers what no client can see, such as the
 * ONBUILD triggers of a base image: the client then sends the whole context.
 */
export function contextSourcesOf(dockerfile: string): string[] | undefined {
  let instructions: Instruction[];
  try {
    instructions = parseInstructions(parseDockerfile(dockerfile));
  } catch {
    return undefined;
  }
  const sources = new Set<string>();
  for (const inst of instructions) {
    if (inst.kind === 'ONBUILD') return undefined;
    if (inst.kind === 'RUN' && inst.mounts.length > 0) return undefined;
    if (inst.kind !== 'COPY' && inst.kind !== 'ADD') continue;
    if (inst.from !== undefined) continue;
    if (inst.parents) return undefined;
    const heredocs = new Set(inst.heredocs.map((h) => h.name));
    for (const src of inst.sources) {
      const marker = /^\d*<<-?(.+)$/.exec(src);
      if (marker && heredocs.has(marker[1]!.replace(/["']/g, ''))) continue;
      // Variables, escapes and quotes change the word before it names a file.
      if (/[$\\`"']/.test(src)) return undefined;
      if (inst.kind === 'ADD' && (/^(https?|git):\/\//.test(src) || src.startsWith('git@'))) continue;
      if (cleanSource(src) === '.') return undefined;
      sources.add(src);
    }
  }
  return [...sources];
}

/**
 * The context's paths (.dockerignore applied, as `BuildContext.walk` lists them) that a build
 * whose sources are `sources` reads: each path a source names or matches (as the daemon matches
 * it), everything below it, and the directories above it. Only the directories on the way to a
 * source are read. Undefined when a source is, or lies behind, a symlink, whose target may be
 * anywhere in the context.
 */
export async function contextPathsFor(
  context: BuildContext,
  sources: readonly string[],
): Promise<string[] | undefined> {
  const exact = new Set<string>();
  // A glob's segments, and a matcher for each of its leading parts (`a/*/c`: `a`, `a/*`, `a/*/c`).
  const globs: Array<Array<(path: string) => boolean>> = [];
  for (const src of sources) {
    const pattern = cleanSource(src);
    if (!GLOB_CHARS.test(pattern)) {
      exact.add(pattern);
      continue;
    }
    const parts = pattern.split('/');
    globs.push(parts.map((_, i) => pathMatcher(parts.slice(0, i + 1).join('/'))));
  }
  const prefixes = (path: string) => {
    const parts = path.split('/');
    return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  };
  /** How many leading segments of `path` a source matches (0: none). */
  const matchedDepth = (path: string): number => {
    const heads = prefixes(path);
    for (let i = 0; i < heads.length; i++) {
      if (exact.has(heads[i]!)) return i + 1;
      for (const glob of globs) if (glob.length === i + 1 && glob[i]!(heads[i]!)) return i + 1;
    }
    return 0;
  };
  // A directory is worth entering when a source lies below it, or it lies below a match.
  const enter = (dir: string): boolean => {
    if (matchedDepth(dir) > 0) return true;
    for (const p of exact) if (p.startsWith(`${dir}/`)) return true;
    const depth = dir.split('/').length;
    return globs.some((glob) => glob.length > depth && glob[depth - 1]!(dir));
  };
  const walked = await context.walk('.', undefined, enter);
  const present = new Set(walked);
  const isSymlink = async (path: string) => (await lstat(join(context.root, path))).isSymbolicLink();
  // A named source that is not a path of its own may lie behind a symlink of the context.
  for (const pattern of exact) {
    if (present.has(pattern)) continue;
    for (const above of prefixes(pattern).slice(0, -1))
      if (present.has(above) && (await isSymlink(above))) return undefined;
  }
  const sent = new Set<string>();
  for (const path of walked) {
    const depth = matchedDepth(path);
    if (depth === 0) continue;
    const heads = prefixes(path);
    if (depth === heads.length && (await isSymlink(path))) return undefined;
    for (const head of heads) sent.add(head);
  }
  return walked.filter((p) => sent.has(p));
}

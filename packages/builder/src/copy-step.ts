import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { CopySource, CopyStep } from './backend.js';
import { cacheKeyOf } from './cache-key.js';
import { nopCreatedBy } from './config.js';
import { combineChecksums } from './context.js';
import { PatternMatcher } from './dockerignore.js';
import { BuildError, DockerfileParseError } from './errors.js';
import type { CopyInstruction } from './instructions.js';
import { expandWord } from './shell.js';
import type { StageBuilder } from './stage.js';
import { resolveCopyFrom } from './stages.js';

/**
 * COPY and ADD: the sources (context files, another stage's or image's paths, heredocs), their
 * checksums (the cache key and the `created_by` text), then the backend's copy on a miss.
 */
export async function copyStep(stage: StageBuilder, inst: CopyInstruction): Promise<void> {
  const { session, state } = stage;
  const { plan, context } = session;
  const escapeToken = plan.escapeToken;
  const name = inst.kind;
  const sources: CopySource[] = [];
  const checksums: string[] = [];
  const heredocs = new Map(inst.heredocs.map((h) => [h.name, h]));
  const rawSources = inst.sources.map((s) => stage.word(s, inst.line));
  if (inst.from !== undefined) {
    const metaVars = Object.fromEntries([...plan.metaArgValues].filter(([, v]) => v !== undefined));
    const fromValue = expandWord(inst.from, metaVars as Record<string, string>, { escapeToken });
    const ref = resolveCopyFrom(fromValue, stage.stage.index, plan.allStages, inst.line);
    const imageId =
      ref.kind === 'stage'
        ? (await session.stageResult(ref.index)).imageId
        : (await session.external(ref.ref, session.options.platform)).imageId;
    for (const s of rawSources) {
      sources.push({ kind: 'image', imageId, path: s });
      checksums.push(`image:${createHash('sha256').update(`${imageId}\0${s}`).digest('hex')}`);
    }
  } else {
    const contextPaths: string[] = [];
    for (const s of rawSources) {
      const marker = /^\d*<<-?(.+)$/.exec(s);
      const heredoc = marker ? heredocs.get(marker[1]!.replace(/["']/g, '')) : undefined;
      if (heredoc) {
        let content = heredoc.chomp ? heredoc.content.replace(/^\t+/gm, '') : heredoc.content;
        // An unquoted marker means ARG/ENV substitution in the body; quotes and escapes stay.
        if (heredoc.expand) {
          content = expandWord(content, stage.varsOf(), { escapeToken, rawQuotes: true, rawEscapes: true });
        }
        sources.push({ kind: 'inline', name: heredoc.name, content });
        checksums.push(`file:${createHash('sha256').update(`${heredoc.name}\0${content}`).digest('hex')}`);
      } else contextPaths.push(s);
    }
    if (contextPaths.length > 0) {
      if (!context) throw new BuildError(`${name} failed: no build context`);
      if (name === 'ADD') {
        const url = contextPaths.find((p) => /^(https?|git):\/\//.test(p) || p.startsWith('git@'));
        if (url) throw new BuildError(`ADD failed: remote sources are not supported yet: ${url}`);
      }
      const excludes =
        inst.exclude.length > 0
          ? new PatternMatcher(inst.exclude.map((e) => stage.word(e, inst.line)))
          : undefined;
      for (const entry of await context.resolveSources(contextPaths, name)) {
        sources.push({
          kind: 'context',
          path: entry.path,
          absolute: entry.absolute,
          type: entry.type,
          ...(entry.spool ? { spool: entry.spool } : {}),
          exclude: (rel) => {
            if (context.isExcluded(rel)) return true;
            if (!excludes) return false;
            const inside = entry.path === '.' ? rel : rel.slice(entry.path.length + 1);
            return excludes.matches(inside || rel);
          },
        });
        checksums.push(await context.checksum(entry));
      }
    }
  }
  let dest = stage.word(inst.dest, inst.line);
  if (sources.length > 1 && !dest.endsWith('/')) {
    throw new BuildError(
      `When using ${name} with more than one source file, the destination must be a directory and end with a /`,
    );
  }
  if (!posix.isAbsolute(dest)) {
    const trailing = dest.endsWith('/') || dest === '.';
    dest = posix.join(state.config.WorkingDir || '/', dest);
    if (trailing && !dest.endsWith('/')) dest += '/';
  }
  const chown = inst.chown === undefined ? undefined : stage.word(inst.chown, inst.line);
  let chmod: number | undefined;
  if (inst.chmod !== undefined) {
    const text = stage.word(inst.chmod, inst.line);
    if (!/^[0-7]{1,4}$/.test(text))
      throw new DockerfileParseError(`invalid chmod parameter: ${text}`, inst.line);
    chmod = Number.parseInt(text, 8);
  }
  const sourceHash = combineChecksums(checksums);
  const createdBy = nopCreatedBy(
    state.config,
    `${name} ${sourceHash} in ${stage.word(inst.dest, inst.line)} `,
    name,
  );
  const key = cacheKeyOf({
    createdBy,
    dest,
    chown: chown ?? null,
    chmod: chmod ?? null,
    link: inst.link,
    config: state.config,
  });
  if (await stage.cached(key)) return;
  const copy: CopyStep = {
    parentImageId: state.imageId,
    config: state.config,
    history: stage.historyEntry(createdBy, false),
    cacheKey: key,
    instruction: name,
    sources,
    dest,
    link: inst.link,
    extractArchives: name === 'ADD',
  };
  if (chown !== undefined) copy.chown = chown;
  if (chmod !== undefined) copy.chmod = chmod;
  if (state.author !== undefined) copy.author = state.author;
  stage.finish(await session.backend.copy(copy));
}

import { describe, expect, it } from 'vitest';
import { DockerfileParseError } from './errors.js';
import { parseInstructions } from './instructions.js';
import { parseDockerfile } from './parser.js';

const instructions = (text: string) => parseInstructions(parseDockerfile(text));

describe('parseDockerfile', () => {
  it('joins continuations, skips comments, keeps flags and lines', () => {
    const { nodes } = parseDockerfile(
      'FROM busybox AS base\n# comment\nCOPY --chown=1:1 --link a \\\n  b /dst/\nrun ["echo", "hi"]\n',
    );
    expect(nodes.map((n) => [n.instruction, n.flags, n.args, n.json, n.startLine, n.endLine])).toEqual([
      ['from', [], ['busybox', 'AS', 'base'], false, 1, 1],
      ['copy', ['--chown=1:1', '--link'], ['a', 'b', '/dst/'], false, 3, 4],
      ['run', [], ['echo', 'hi'], true, 5, 5],
    ]);
  });

  it('honours # escape=` and # syntax=', () => {
    const parsed = parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN a `\n  b\n');
    expect(parsed.escapeToken).toBe('`');
    expect(parsed.directives.map((d) => [d.name, d.value])).toEqual([
      ['syntax', 'docker/dockerfile:1'],
      ['escape', '`'],
    ]);
    expect(parsed.nodes[1]!.args).toEqual(['a   b']);
  });

  it('attaches heredoc bodies', () => {
    const { nodes } = parseDockerfile('FROM x\nRUN <<EOF\necho hi\nEOF\nCOPY <<-"A" /a\n\tbody\nA\n');
    expect(nodes[1]!.heredocs).toEqual([
      { name: 'EOF', content: 'echo hi\n', expand: true, chomp: false, fileDescriptor: 0 },
    ]);
    expect(nodes[2]!.heredocs[0]).toMatchObject({ name: 'A', expand: false, chomp: true });
    expect(nodes[2]!.endLine).toBe(7);
  });

  it('rejects an empty file and an unterminated heredoc with Docker wording', () => {
    expect(() => parseDockerfile('# only a comment\n')).toThrow('file with no instructions');
    expect(() => parseDockerfile('FROM x\nRUN <<EOF\necho\n')).toThrow(
      'dockerfile parse error on line 2: unterminated heredoc EOF',
    );
    expect(() => parseDockerfile('FROM x\nENV PATH\n')).toThrow(
      'dockerfile parse error on line 2: ENV must have two arguments',
    );
  });
});

describe('parseInstructions', () => {
  it('reports unknown instructions with a suggestion and the line', () => {
    let err: unknown;
    try {
      instructions('FROM busybox\n\nRUNN echo hi\n');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DockerfileParseError);
    expect((err as DockerfileParseError).line).toBe(3);
    expect((err as Error).message).toBe(
      'dockerfile parse error on line 3: unknown instruction: RUNN (did you mean run?)',
    );
  });

  it('checks argument counts and flags', () => {
    expect(() => instructions('FROM x\nCOPY onlyone\n')).toThrow(
      'dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined',
    );
    expect(() => instructions('FROM x\nCOPY --bogus=1 a b\n')).toThrow('unknown flag: --bogus');
    expect(() => instructions('FROM\n')).toThrow('FROM requires either one or three arguments');
    expect(() => instructions('FROM x AS 1bad\n')).toThrow('invalid name for build stage');
    expect(() => instructions('FROM x\nSHELL /bin/bash\n')).toThrow(
      'SHELL requires the arguments to be in JSON form',
    );
    expect(() => instructions('FROM x\nHEALTHCHECK --interval=1us CMD true\n')).toThrow(
      'cannot be less than 1ms',
    );
  });

  it('builds typed instructions', () => {
    const list = instructions(
      'FROM --platform=linux/amd64 alpine AS Build\nENV a=1 b="two words"\nENV old form value\nARG X=1 Y\n' +
        'COPY --from=0 --chmod=755 a b /d/\nHEALTHCHECK --interval=30s --retries=3 CMD curl -f http://x/\nONBUILD RUN echo hi\n',
    );
    expect(list[0]).toMatchObject({
      kind: 'FROM',
      image: 'alpine',
      stageName: 'build',
      platform: 'linux/amd64',
    });
    expect(list[1]).toMatchObject({
      kind: 'ENV',
      pairs: [
        { key: 'a', value: '1' },
        { key: 'b', value: '"two words"' },
      ],
    });
    expect(list[2]).toMatchObject({ kind: 'ENV', pairs: [{ key: 'old', value: 'form value' }] });
    expect(list[3]).toMatchObject({ kind: 'ARG', args: [{ key: 'X', value: '1' }, { key: 'Y' }] });
    expect(list[4]).toMatchObject({
      kind: 'COPY',
      from: '0',
      chmod: '755',
      sources: ['a', 'b'],
      dest: '/d/',
    });
    expect(list[5]).toMatchObject({
      kind: 'HEALTHCHECK',
      test: ['CMD-SHELL', 'curl -f http://x/'],
      interval: 30e9,
      retries: 3,
    });
    expect(list[6]).toMatchObject({ kind: 'ONBUILD', expression: 'RUN echo hi', trigger: { kind: 'RUN' } });
  });
});

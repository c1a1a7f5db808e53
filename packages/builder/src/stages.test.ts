import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './parser.js';
import { planBuild } from './stages.js';

const plan = (text: string, options = {}) => planBuild(parseDockerfile(text), options);

const MULTI = `ARG BASE=alpine
ARG VERSION
FROM \${BASE}:3.19 AS deps
ARG VERSION
RUN echo deps
FROM busybox AS unused
RUN echo unused
FROM deps AS build
COPY --from=0 /a /b
FROM scratch
COPY --from=build /out /out
COPY --from=docker.io/library/nginx:latest /etc/nginx /etc/nginx
`;

describe('planBuild', () => {
  it('orders the stages the target needs (skipping the others, as BuildKit) and resolves bases through global ARGs', () => {
    const p = plan(MULTI);
    expect(p.order.map((s) => s.index)).toEqual([0, 2, 3]);
    expect(p.allStages[0]!.base).toEqual({ kind: 'image', ref: 'alpine:3.19' });
    expect(p.allStages[2]!.base).toEqual({ kind: 'stage', index: 0 });
    expect(p.allStages[3]!.base).toEqual({ kind: 'scratch' });
    expect(p.allStages[3]!.dependsOn).toEqual([2]);
  });

  it('honours --target and build-arg overrides of global ARGs', () => {
    const p = plan(MULTI, { target: 'unused', buildArgs: { BASE: 'debian' } });
    expect(p.order.map((s) => s.name)).toEqual(['unused']);
    const q = plan(MULTI, { buildArgs: { BASE: 'debian' } });
    expect(q.allStages[0]!.base).toEqual({ kind: 'image', ref: 'debian:3.19' });
    expect(() => plan(MULTI, { target: 'nope' })).toThrow('failed to reach build target nope in Dockerfile');
  });

  it('lists build args nothing consumes (proxies are always allowed)', () => {
    const p = plan(MULTI, { buildArgs: { VERSION: '1', HTTP_PROXY: 'x', FOO: 'a', BAR: 'b' } });
    expect(p.unusedBuildArgs).toEqual(['BAR', 'FOO']);
  });

  it('defines the automatic platform ARGs for FROM lines', () => {
    const p = plan('FROM --platform=$BUILDPLATFORM golang AS b\nFROM alpine:$TARGETARCH\n', {
      platform: 'linux/arm64',
      buildArgs: { TARGETOS: 'x' },
    });
    expect(p.allStages[0]!.base).toMatchObject({ platform: expect.stringMatching(/^linux\//) });
    expect(p.allStages[1]!.base).toEqual({ kind: 'image', ref: 'alpine:arm64', platform: 'linux/arm64' });
    expect(p.automaticArgs).toMatchObject({
      TARGETPLATFORM: 'linux/arm64',
      TARGETOS: 'linux',
      TARGETVARIANT: '',
    });
    expect(p.unusedBuildArgs).toEqual([]);
  });

  it('rejects bad structure with the line', () => {
    expect(() => plan('RUN echo\nFROM x\n')).toThrow(
      'dockerfile parse error on line 1: no build stage in current context',
    );
    expect(() => plan('FROM a AS x\nFROM b AS x\n')).toThrow('duplicate stage name "x"');
    expect(() => plan('ARG B\nFROM ${B}\n')).toThrow('base name (${B}) should not be blank');
    expect(() => plan('FROM a\nCOPY --from=0 /x /y\n')).toThrow('refers to current or later build stage');
    expect(() => plan('FROM a AS one\nCOPY --from=one /x /y\n')).toThrow(
      'circular dependency detected on stage: one',
    );
  });
});

import { describe, expect, it } from 'vitest';
import { mergeConfig, normaliseSignal, statusText } from './containers.js';
import { applyConfigChanges } from './import-changes.js';

describe('mergeConfig (Docker’s rules for a create request on an image)', () => {
  const image = { Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'], WorkingDir: '/app', Labels: { a: '1' } };

  it('uses the image defaults when the request gives none', () => {
    const c = mergeConfig({ Image: 'x' }, image);
    expect(c.Cmd).toEqual(['sh']);
    expect(c.WorkingDir).toBe('/app');
    expect(c.Env).toEqual(['PATH=/bin', 'A=1']);
  });

  it('lets request values override the image’s, key by key for Env', () => {
    const c = mergeConfig(
      { Image: 'x', Cmd: ['echo', 'hi'], Env: ['A=2', 'B=3'], Labels: { b: '2' } },
      image,
    );
    expect(c.Cmd).toEqual(['echo', 'hi']);
    expect(c.Env).toEqual(['PATH=/bin', 'A=2', 'B=3']);
    expect(c.Labels).toEqual({ a: '1', b: '2' });
  });

  it('drops the image CMD when the request sets an entrypoint', () => {
    const c = mergeConfig({ Image: 'x', Entrypoint: ['/bin/echo'] }, image);
    expect(c.Entrypoint).toEqual(['/bin/echo']);
    expect(c.Cmd).toBeNull();
  });

  it('adds a default PATH when the image has none', () => {
    expect(mergeConfig({ Image: 'x' }, {}).Env?.[0]).toMatch(/^PATH=\/usr\/local\/sbin/);
  });
});

describe('applyConfigChanges (import -c)', () => {
  const base = {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers' as const, diff_ids: [] },
    config: {},
  };
  it('applies CMD, ENV, EXPOSE, WORKDIR, LABEL and USER', () => {
    const c = applyConfigChanges(base, [
      'CMD ["sh"]',
      'ENV A=1 B="two words"',
      'EXPOSE 80 53/udp',
      'WORKDIR /srv',
      'LABEL k=v',
      'USER nobody',
    ]);
    expect(c.config?.Cmd).toEqual(['sh']);
    expect(c.config?.Env).toEqual(['A=1', 'B=two words']);
    expect(c.config?.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {} });
    expect(c.config?.WorkingDir).toBe('/srv');
    expect(c.config?.Labels).toEqual({ k: 'v' });
    expect(c.config?.User).toBe('nobody');
  });
  it('turns the shell form into /bin/sh -c', () => {
    expect(applyConfigChanges(base, ['CMD echo hi']).config?.Cmd).toEqual(['/bin/sh', '-c', 'echo hi']);
  });
  it('refuses instructions import cannot apply', () => {
    expect(() => applyConfigChanges(base, ['RUN echo'])).toThrow('RUN is not a valid change command');
  });
});

describe('helpers', () => {
  it('normalises signals like Docker', () => {
    expect(normaliseSignal('term')).toBe('SIGTERM');
    expect(normaliseSignal('SIGKILL')).toBe('SIGKILL');
    expect(normaliseSignal('9')).toBe('9');
  });
  it('describes container states like docker ps', () => {
    const base = {
      State: {
        Status: 'exited',
        ExitCode: 3,
        StartedAt: '2024-01-01T00:00:00Z',
        FinishedAt: '2024-01-01T00:00:00Z',
      },
    };
    const now = Date.parse('2024-01-01T00:00:05Z');
    expect(statusText(base as never, now)).toBe('Exited (3) 5 seconds ago');
    expect(statusText({ State: { ...base.State, Status: 'running' } } as never, now)).toBe('Up 5 seconds');
    expect(statusText({ State: { ...base.State, Status: 'created' } } as never, now)).toBe('Created');
  });
});

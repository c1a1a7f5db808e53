import { describe, expect, it } from 'vitest';
import {
  type ImageRunConfig,
  applyInstructionToConfig,
  goQuoteList,
  metadataComment,
  nopCreatedBy,
  runCreatedBy,
} from './config.js';
import { parseInstruction } from './instructions.js';
import { parseDockerfile } from './parser.js';

const inst = (line: string) => parseInstruction(parseDockerfile(line).nodes[0]!);

function apply(config: ImageRunConfig, line: string, vars: Record<string, string> = {}, cmdSet = false) {
  return applyInstructionToConfig(config, inst(line), vars, { cmdSet });
}

describe('applyInstructionToConfig', () => {
  it('CMD/ENTRYPOINT shell form runs through the shell; ENTRYPOINT resets an inherited CMD', () => {
    let c = apply({ Cmd: ['sh'] }, 'ENTRYPOINT top -b');
    expect(c).toEqual({ Entrypoint: ['/bin/sh', '-c', 'top -b'], Cmd: null });
    c = apply(c, 'CMD ["-d"]');
    expect(c.Cmd).toEqual(['-d']);
    expect(apply({ Cmd: ['x'] }, 'ENTRYPOINT ["e"]', {}, true).Cmd).toEqual(['x']);
    expect(apply({ Shell: ['/bin/bash', '-c'] }, 'CMD echo $HOME').Cmd).toEqual([
      '/bin/bash',
      '-c',
      'echo $HOME',
    ]);
  });

  it('ENV substitutes with the variables from before the instruction and replaces in place', () => {
    const c = apply({ Env: ['PATH=/bin', 'A=old'] }, 'ENV A=new B=$A PATH=/x:$PATH', {
      A: 'old',
      PATH: '/bin',
    });
    expect(c.Env).toEqual(['PATH=/x:/bin', 'A=new', 'B=old']);
  });

  it('WORKDIR is relative to the previous one; EXPOSE, VOLUME, LABEL, USER, STOPSIGNAL, HEALTHCHECK', () => {
    let c = apply({}, 'WORKDIR /app');
    c = apply(c, 'WORKDIR sub/../src');
    expect(c.WorkingDir).toBe('/app/src');
    c = apply(c, 'EXPOSE 80 53/udp 8000-8001');
    expect(Object.keys(c.ExposedPorts!)).toEqual(['80/tcp', '53/udp', '8000/tcp', '8001/tcp']);
    c = apply(c, 'VOLUME ["/data"]');
    expect(c.Volumes).toEqual({ '/data': {} });
    c = apply(c, 'LABEL "my key"="a b" v=$V', { V: '1' });
    expect(c.Labels).toEqual({ 'my key': 'a b', v: '1' });
    c = apply(c, 'USER ${U:-nobody}');
    expect(c.User).toBe('nobody');
    c = apply(c, 'STOPSIGNAL SIGQUIT');
    expect(c.StopSignal).toBe('SIGQUIT');
    c = apply(c, 'HEALTHCHECK --timeout=3s CMD ["curl", "x"]');
    expect(c.Healthcheck).toEqual({ Test: ['CMD', 'curl', 'x'], Timeout: 3e9 });
    c = apply(c, 'ONBUILD COPY . /src');
    expect(c.OnBuild).toEqual(['COPY . /src']);
    expect(() => apply(c, 'STOPSIGNAL NOPE')).toThrow('Invalid signal: NOPE');
    expect(() => apply(c, 'EXPOSE abc')).toThrow('Invalid containerPort: abc');
  });
});

describe('history created_by', () => {
  it('matches the classic builder', () => {
    const cmd = inst('CMD ["sh"]');
    const after = applyInstructionToConfig({}, cmd, {});
    expect(nopCreatedBy(after, metadataComment(cmd, after, {}), 'CMD')).toBe('/bin/sh -c #(nop)  CMD ["sh"]');
    const wd = inst('WORKDIR /app');
    const wdAfter = applyInstructionToConfig({}, wd, {});
    expect(nopCreatedBy(wdAfter, metadataComment(wd, wdAfter, {}), 'WORKDIR')).toBe(
      '/bin/sh -c #(nop) WORKDIR /app',
    );
    expect(nopCreatedBy({}, 'COPY file:abc in /dst ', 'COPY')).toBe(
      '/bin/sh -c #(nop) COPY file:abc in /dst ',
    );
    expect(runCreatedBy(['/bin/sh', '-c', 'echo hi'], ['A=b'])).toBe('|1 A=b /bin/sh -c echo hi');
    expect(goQuoteList(['/bin/sh', '-c', 'echo "hi"'])).toBe('["/bin/sh" "-c" "echo \\"hi\\""]');
    const hc = inst(
      'HEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://localhost/ || exit 1',
    );
    const hcAfter = applyInstructionToConfig({}, hc, {});
    expect(metadataComment(hc, hcAfter, {})).toBe(
      `HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/ || exit 1"] "5m0s" "3s" "0s" "0s" '\\x03'}`,
    );
  });
});

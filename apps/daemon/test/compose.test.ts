import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { e2eSkip, freePort, useDaemon, useTempDir } from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const hasCompose =
  (await execa('docker-compose', ['version'], { reject: false }).catch(() => undefined))?.exitCode === 0;
const skip = e2eSkip('docker-compose tests', () =>
  hasCompose ? undefined : 'docker-compose is not installed (tools/bootstrap installs it)',
);

describe.skipIf(skip !== undefined)('docker-compose (v1) against tsctrd', () => {
  const dir = useTempDir('compose-');
  const daemon = useDaemon();
  let port: number;
  const project = `cmp${process.pid}`;
  const compose = (args: string[]) =>
    execa('docker-compose', ['-p', project, ...args], {
      cwd: dir,
      env: daemon.env,
      reject: false,
      stdin: 'ignore',
      timeout: 120_000,
    });

  beforeAll(async () => {
    port = await freePort();
    await writeFile(
      join(dir, 'docker-compose.yml'),
      [
        'version: "3"',
        'services:',
        '  web:',
        '    image: busybox',
        // A page to serve, then the server in the foreground.
        `    command: sh -c 'mkdir -p /www && echo "hello from $$GREETING" > /www/index.html && exec httpd -f -p 8080 -h /www'`,
        '    environment:',
        '      - GREETING=compose',
        '    ports:',
        `      - "127.0.0.1:${port}:8080"`,
        '    labels:',
        '      tier: front',
        '    volumes:',
        '      - webdata:/www',
        '  client:',
        '    image: busybox',
        '    command: sh -c "sleep 3600"',
        '    depends_on:',
        '      - web',
        'volumes:',
        '  webdata:',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await compose(['down', '-t', '1']).catch(() => undefined);
  });

  it('brings a project up: its network, containers numbered 1, labels, published port', async () => {
    const up = await compose(['up', '-d']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stderr).toContain(`Creating network "${project}_default" with the default driver`);
    const names = (await daemon.docker(['ps', '--format', '{{.Names}}'])).stdout.split('\n').sort();
    expect(names).toEqual([`${project}_client_1`, `${project}_web_1`]);
    const ps = await compose(['ps']);
    // One line per container: the label filters compose sends are ANDed, as in Docker.
    expect(ps.stdout.split('\n').filter((l) => l.startsWith(project))).toHaveLength(2);
    expect(ps.stdout).toContain(`127.0.0.1:${port}->8080/tcp`);
    expect(up.stderr).toContain(`Creating volume "${project}_webdata" with default driver`);
    const labels = await daemon.docker([
      'inspect',
      '--format',
      '{{index .Config.Labels "tier"}}',
      `${project}_web_1`,
    ]);
    expect(labels.stdout).toBe('front');
  });

  it('resolves services by name on the project network and serves the published port', async () => {
    let page = '';
    for (let i = 0; i < 50 && page === ''; i++) {
      const r = await compose(['exec', '-T', 'client', 'wget', '-qO-', 'http://web:8080/']);
      page = r.exitCode === 0 ? r.stdout : '';
      if (page === '') await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(page).toBe('hello from compose');
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe('hello from compose\n');
  });

  it('runs one-off containers, shows logs, restarts and stops services', async () => {
    const run = await compose(['run', '--rm', 'client', 'sh', '-c', 'echo one-off $HOSTNAME']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^one-off [0-9a-f]{12}$/m);
    const logs = await compose(['logs', '--no-color', 'web']);
    expect(logs.exitCode).toBe(0);
    expect(logs.stdout).toContain('Attaching to');
    const restart = await compose(['restart', '-t', '1', 'web']);
    expect(restart.exitCode, restart.stderr).toBe(0);
    expect(
      (await daemon.docker(['inspect', '--format', '{{.State.Running}}', `${project}_web_1`])).stdout,
    ).toBe('true');
    const stop = await compose(['stop', '-t', '1']);
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect((await daemon.docker(['ps', '-q'])).stdout).toBe('');
  });

  it('takes the project down: containers, network and (with -v) its volume removed', async () => {
    expect((await daemon.docker(['volume', 'ls', '-q'])).stdout).toBe(`${project}_webdata`);
    const down = await compose(['down', '-v', '-t', '1']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(
      (await daemon.docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`])).stdout,
    ).toBe('');
    expect((await daemon.docker(['network', 'ls', '--format', '{{.Name}}'])).stdout).not.toContain(project);
    expect((await daemon.docker(['volume', 'ls', '-q'])).stdout).toBe('');
  });
});

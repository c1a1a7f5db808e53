import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLI_RUNTIMES,
  type CliRuntime,
  DAEMON_BIN,
  DOCKER_CLI,
  TSCTR,
  TestDaemon,
  e2eSkip,
  freePort,
  makeCertificateAuthority,
  tsctrArgv,
  useDaemon,
  useTempDir,
} from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkip('remote engine tests');

/** The variables a test sets itself; the rest of the environment is the test process's. */
const CLEARED = ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_TLS'];

interface Result {
  stdout: string;
  stderr: string;
  exitCode: number;
}

async function run(
  cli: 'tsctr' | 'docker',
  args: string[],
  env: Record<string, string>,
  input?: string,
): Promise<Result> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !CLEARED.includes(k)));
  const [cmd, argv] = cli === 'tsctr' ? tsctrArgv(args, current) : [DOCKER_CLI, args];
  const r = await execa(cmd, argv, {
    env: { ...base, ...env },
    extendEnv: false,
    reject: false,
    ...(input !== undefined ? { input } : { stdin: 'ignore' }),
  });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

/**
 * A CA, a server certificate for 127.0.0.1/localhost and a client certificate, the client's
 * also under DOCKER_CERT_PATH's names (cert.pem, key.pem).
 */
async function makeCertificates(dir: string, prefix = ''): Promise<void> {
  const ca = await makeCertificateAuthority(dir, { commonName: `${prefix}test-ca` });
  await ca.issue('server', {
    commonName: 'localhost',
    subjectAltNames: ['IP:127.0.0.1', 'DNS:localhost'],
    extendedKeyUsage: 'serverAuth',
  });
  const client = await ca.issue('client', { commonName: 'client', extendedKeyUsage: 'clientAuth' });
  await copyFile(client.cert, join(dir, 'cert.pem'));
  await copyFile(client.key, join(dir, 'key.pem'));
}

/** The tsctr under test: each runtime built here runs the whole file (the transport is what differs). */
let current: CliRuntime = TSCTR;

describe.skipIf(skip !== undefined).each(CLI_RUNTIMES)(
  'remote engines: tcp with mutual TLS, contexts, ssh (tsctr: $name)',
  (runtime) => {
    beforeAll(() => {
      current = runtime;
    });
    const dir = useTempDir('tsctr-remote-');
    const certs = join(dir, 'certs');
    const otherCerts = join(dir, 'other-ca');
    let port: number;
    let tcpHost: string;

    // Before the daemon's hooks: it listens with these certificates on this port.
    beforeAll(async () => {
      await makeCertificates(certs);
      await makeCertificates(otherCerts, 'other-');
      port = await freePort();
      tcpHost = `tcp://127.0.0.1:${port}`;
    }, 120_000);
    const daemon = useDaemon({
      args: () => [
        '-H',
        tcpHost,
        '--tlsverify',
        '--tlscacert',
        join(certs, 'ca.pem'),
        '--tlscert',
        join(certs, 'server-cert.pem'),
        '--tlskey',
        join(certs, 'server-key.pem'),
      ],
    });

    const tlsFlags = () => [
      '-H',
      tcpHost,
      '--tlsverify',
      '--tlscacert',
      join(certs, 'ca.pem'),
      '--tlscert',
      join(certs, 'client-cert.pem'),
      '--tlskey',
      join(certs, 'client-key.pem'),
    ];
    const config = () => ({ DOCKER_CONFIG: join(dir, 'unused-config') });

    it('serves both CLIs over tcp with mutual TLS, hijacked streams included', async () => {
      for (const cli of ['tsctr', 'docker'] as const) {
        const v = await run(cli, [...tlsFlags(), 'version', '--format', '{{.Server.Version}}'], config());
        expect(v.stderr).toBe('');
        expect(v.stdout).toMatch(/^\d+\.\d+\.\d+/);
        // attach over TLS: stdin reaches the container, the client's half-close ends it, output comes back.
        const r = await run(
          cli,
          [...tlsFlags(), 'run', '-i', '--rm', 'busybox', 'sh', '-c', 'cat; echo done'],
          config(),
          `over ${cli}\n`,
        );
        expect(r).toMatchObject({ exitCode: 0, stdout: `over ${cli}\ndone` });
      }
    }, 60_000);

    it('reads DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as the docker CLI does', async () => {
      const env = { ...config(), DOCKER_HOST: tcpHost, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs };
      const id = (await run('tsctr', ['run', '-d', '--name', 'remote-env', 'busybox', 'sleep', '300'], env))
        .stdout;
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      for (const cli of ['tsctr', 'docker'] as const) {
        const ps = await run(cli, ['ps', '-a', '--format', '{{.Names}}'], env);
        expect(ps.stdout.split('\n')).toContain('remote-env');
        const exec = await run(cli, ['exec', '-i', 'remote-env', 'cat'], env, `exec via ${cli}`);
        expect(exec).toMatchObject({ exitCode: 0, stdout: `exec via ${cli}` });
      }
    }, 60_000);

    it('refuses clients without a certificate, with one from another CA, and plain HTTP', async () => {
      for (const cli of ['tsctr', 'docker'] as const) {
        const noCert = await run(
          cli,
          ['-H', tcpHost, '--tlsverify', '--tlscacert', join(certs, 'ca.pem'), 'ps'],
          config(),
        );
        expect(noCert.exitCode).not.toBe(0);
        expect(noCert.stderr).toMatch(/tls: certificate required|bad certificate/);
        const other = await run(
          cli,
          [
            '-H',
            tcpHost,
            '--tlsverify',
            '--tlscacert',
            join(certs, 'ca.pem'),
            '--tlscert',
            join(otherCerts, 'client-cert.pem'),
            '--tlskey',
            join(otherCerts, 'client-key.pem'),
            'ps',
          ],
          config(),
        );
        // Node's TLS server drops an unverified client after the handshake, without an alert.
        expect(other).toMatchObject({ stdout: '' });
        expect(other.exitCode).not.toBe(0);
        expect(other.stderr).toMatch(/error during connect|tls/);
        // The daemon is verified too: a CA that did not sign it is refused by the client.
        const wrongCa = await run(
          cli,
          [
            '-H',
            tcpHost,
            '--tlsverify',
            '--tlscacert',
            join(otherCerts, 'ca.pem'),
            '--tlscert',
            join(certs, 'cert.pem'),
            '--tlskey',
            join(certs, 'key.pem'),
            'ps',
          ],
          config(),
        );
        expect(wrongCa.exitCode).not.toBe(0);
        expect(wrongCa.stderr).toMatch(/certificate signed by unknown authority/);
        const plain = await run(cli, ['-H', tcpHost, 'ps'], config());
        expect(plain.exitCode).not.toBe(0);
      }
    }, 60_000);

    it('refuses to serve plain TCP off loopback and says why', async () => {
      const r = await execa(
        process.execPath,
        [DAEMON_BIN, '-H', 'tcp://0.0.0.0:2375', '--data-root', join(dir, 'never')],
        {
          reject: false,
        },
      );
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('refusing to listen on tcp://0.0.0.0:2375 without --tlsverify');
      expect(existsSync(join(dir, 'never'))).toBe(false);
    });

    it('serves sockets handed over by systemd (fd://) and the hosts and tls keys of daemon.json', async () => {
      const d = join(dir, 'activated');
      await mkdir(d);
      const sock = join(d, 'activated.sock');
      const tlsPort = await freePort();
      await writeFile(
        join(d, 'daemon.json'),
        JSON.stringify({
          hosts: ['fd://', `tcp://127.0.0.1:${tlsPort}`],
          tlsverify: true,
          tlscacert: join(certs, 'ca.pem'),
          tlscert: join(certs, 'server-cert.pem'),
          tlskey: join(certs, 'server-key.pem'),
        }),
      );
      const bridge = `ta${process.pid % 100000}`;
      const cgroupParent = `/tsctr-test-activated-${process.pid}`;
      // What systemd does: the socket is bound and listening before the daemon runs, as fd 3,
      // with LISTEN_FDS and LISTEN_PID (the same process after exec). socket() may return fd 3
      // itself, which dup2 then leaves close-on-exec: hence set_inheritable.
      const activate = `import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(16)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"; os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])`;
      const child = spawn(
        'python3',
        [
          '-c',
          activate,
          sock,
          process.execPath,
          DAEMON_BIN,
          '--config-file',
          join(d, 'daemon.json'),
          '--data-root',
          join(d, 'data'),
          '--exec-root',
          join(d, 'run'),
          '--cgroup-parent',
          cgroupParent,
          '--bridge',
          bridge,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let log = '';
      child.stderr!.on('data', (c: Buffer) => {
        log += c.toString();
      });
      try {
        const env = { ...config(), DOCKER_HOST: `unix://${sock}` };
        let version: Result | undefined;
        for (let i = 0; i < 100; i++) {
          version = await run('tsctr', ['version', '--format', '{{.Server.Version}}'], env);
          if (version.exitCode === 0 || child.exitCode !== null) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(version, log).toMatchObject({ exitCode: 0 });
        expect(log).toContain(`API listen on fd://3, tcp://127.0.0.1:${tlsPort} (mutual TLS)`);
        const overTls = await run(
          'docker',
          [
            '-H',
            `tcp://127.0.0.1:${tlsPort}`,
            '--tlsverify',
            '--tlscacert',
            join(certs, 'ca.pem'),
            '--tlscert',
            join(certs, 'cert.pem'),
            '--tlskey',
            join(certs, 'key.pem'),
            'info',
            '--format',
            '{{.ID}}',
          ],
          config(),
        );
        expect(overTls.exitCode).toBe(0);
        const noCert = await run(
          'docker',
          ['-H', `tcp://127.0.0.1:${tlsPort}`, '--tlsverify', '--tlscacert', join(certs, 'ca.pem'), 'info'],
          config(),
        );
        expect(noCert.exitCode).not.toBe(0);
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
        await execa('ip', ['link', 'del', bridge], { reject: false });
        await execa('nft', ['delete', 'table', 'ip', `tsctr_${bridge}`], { reject: false });
        await execa(
          'sh',
          [
            '-c',
            `find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name '${cgroupParent.slice(1)}' -exec rmdir {} +`,
          ],
          { reject: false },
        );
      }
    }, 60_000);

    it('shares contexts with the docker CLI, both ways, in its on-disk format', async () => {
      const cfg = join(dir, 'docker-config');
      const env = { DOCKER_CONFIG: cfg };
      const endpoint = `host=${tcpHost},ca=${join(certs, 'ca.pem')},cert=${join(certs, 'cert.pem')},key=${join(certs, 'key.pem')}`;
      expect(
        (
          await run(
            'docker',
            ['context', 'create', 'by-docker', '--description', 'made by docker', '--docker', endpoint],
            env,
          )
        ).exitCode,
      ).toBe(0);
      expect(
        (await run('tsctr', ['context', 'create', 'by-tsctr', '--docker', endpoint], env)).exitCode,
      ).toBe(0);
      for (const cli of ['tsctr', 'docker'] as const) {
        for (const name of ['by-docker', 'by-tsctr']) {
          const ps = await run(cli, ['--context', name, 'ps', '-a', '--format', '{{.Names}}'], env);
          expect(ps, `${cli} --context ${name}`).toMatchObject({ exitCode: 0 });
          expect(ps.stdout).toContain('remote-env');
        }
      }
      // The same listing and the same inspect from both.
      expect((await run('tsctr', ['context', 'inspect', 'by-docker', 'by-tsctr'], env)).stdout).toBe(
        (await run('docker', ['context', 'inspect', 'by-docker', 'by-tsctr'], env)).stdout,
      );
      const ls = (
        await run('tsctr', ['context', 'ls', '--format', '{{.Name}} {{.Current}} {{.DockerEndpoint}}'], env)
      ).stdout;
      expect(ls).toContain(`by-docker false ${tcpHost}`);
      // `context use` by one CLI is the current context of the other (config.json's currentContext).
      expect((await run('tsctr', ['context', 'use', 'by-docker'], env)).stderr).toBe(
        'Current context is now "by-docker"',
      );
      expect(JSON.parse(await readFile(join(cfg, 'config.json'), 'utf8')).currentContext).toBe('by-docker');
      expect((await run('docker', ['ps', '-q', '--no-trunc'], env)).stdout).toContain(
        (await run('tsctr', ['ps', '-q', '--no-trunc'], env)).stdout.trim(),
      );
      expect((await run('docker', ['context', 'show'], env)).stdout).toBe('by-docker');
      expect((await run('docker', ['context', 'use', 'by-tsctr'], env)).exitCode).toBe(0);
      expect((await run('tsctr', ['context', 'show'], env)).stdout).toBe('by-tsctr');
      // -c and DOCKER_CONTEXT choose as well; -H with --context is refused as docker refuses it.
      expect((await run('tsctr', ['-c', 'by-docker', 'context', 'show'], env)).stdout).toBe('by-docker');
      for (const cli of ['tsctr', 'docker'] as const)
        expect(
          (await run(cli, ['-c', 'by-docker', 'version', '--format', '{{.Client.Context}}'], env)).stdout,
        ).toBe('by-docker');
      expect((await run('tsctr', ['context', 'show'], { ...env, DOCKER_CONTEXT: 'by-docker' })).stdout).toBe(
        'by-docker',
      );
      expect((await run('tsctr', ['-H', tcpHost, '-c', 'by-docker', 'ps'], env)).stderr).toBe(
        'conflicting options: cannot specify both --host and --context',
      );
      // export/import across the two CLIs, TLS material included.
      const fromTsctr = join(dir, 'by-tsctr.ctx');
      const fromDocker = join(dir, 'by-docker.ctx');
      expect((await run('tsctr', ['context', 'export', 'by-tsctr', fromTsctr], env)).exitCode).toBe(0);
      expect((await run('docker', ['context', 'export', 'by-docker', fromDocker], env)).exitCode).toBe(0);
      expect(
        (await run('docker', ['context', 'import', 'imported-by-docker', fromTsctr], env)).exitCode,
      ).toBe(0);
      expect((await run('tsctr', ['context', 'import', 'imported-by-tsctr', fromDocker], env)).exitCode).toBe(
        0,
      );
      expect((await run('docker', ['-c', 'imported-by-docker', 'ps', '-q'], env)).exitCode).toBe(0);
      expect((await run('tsctr', ['-c', 'imported-by-tsctr', 'ps', '-q'], env)).exitCode).toBe(0);
      // rm: the current context needs -f; docker then sees the default again.
      const inUse = await run('tsctr', ['context', 'rm', 'by-tsctr'], env);
      expect(inUse).toMatchObject({
        exitCode: 1,
        stderr: 'context "by-tsctr" is in use, set -f flag to force remove',
      });
      expect(
        (await run('tsctr', ['context', 'rm', '-f', 'by-tsctr', 'imported-by-tsctr'], env)).exitCode,
      ).toBe(0);
      expect((await run('docker', ['context', 'show'], env)).stdout).toBe('default');
      expect((await run('docker', ['context', 'ls', '-q'], env)).stdout.split('\n').sort()).toEqual([
        'by-docker',
        'default',
        'imported-by-docker',
      ]);
    }, 120_000);

    it('completes container names from the daemon, in bash too', async () => {
      const env = { ...config(), DOCKER_HOST: tcpHost, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs };
      const r = await run('tsctr', ['__complete', 'start', 'remote-'], env);
      expect(r.stdout.split('\n')).toEqual(['remote-env']);
      expect((await run('tsctr', ['__complete', 'rmi', 'busy'], env)).stdout).toBe('busybox:latest');
      expect((await run('tsctr', ['__complete', 'network', 'ins'], env)).stdout).toBe('inspect');
      // The script bash sources, run by bash, through a `tsctr` on the PATH.
      const bin = join(dir, 'bin');
      await mkdir(bin, { recursive: true });
      await writeFile(join(bin, 'tsctr'), `#!/bin/sh\nexec ${current.shell} "$@"\n`);
      await chmod(join(bin, 'tsctr'), 0o755);
      const script = (await run('tsctr', ['completion', 'bash'], env)).stdout;
      await writeFile(join(dir, 'completion.bash'), script);
      const bash = await execa(
        'bash',
        [
          '-c',
          `source ${join(dir, 'completion.bash')}; COMP_WORDS=(tsctr stop remote-e); COMP_CWORD=2; _tsctr; echo "\${COMPREPLY[@]}"`,
        ],
        { env: { ...env, PATH: `${bin}:${process.env.PATH}` }, reject: false },
      );
      expect(bash.stdout).toBe('remote-env');
      for (const shell of ['zsh', 'fish'])
        expect((await run('tsctr', ['completion', shell], env)).stdout).toContain('__complete');
    }, 60_000);

    it("prints the usage of management groups and Docker's message for unknown commands", async () => {
      const help = await run('tsctr', ['container', '--help'], config());
      expect(help.exitCode).toBe(0);
      expect(help.stdout).toContain('Usage:  tsctr container COMMAND');
      expect(help.stdout).toMatch(/\n {2}ls {10}List containers\n/);
      expect((await run('tsctr', ['container'], config())).stdout).toBe(help.stdout);
      for (const group of ['image', 'network', 'volume', 'system', 'builder', 'context'])
        expect((await run('tsctr', [group], config())).stdout).toContain(`Usage:  tsctr ${group} COMMAND`);
      expect(await run('tsctr', ['container', 'bogus'], config())).toMatchObject({
        exitCode: 1,
        stderr:
          "tsctr: unknown command: tsctr container bogus\n\nUsage:  tsctr container\n\nRun 'tsctr container --help' for more information",
      });
      expect((await run('tsctr', ['-H', 'unix:///a', '-H', 'unix:///b', 'ps'], config())).stderr).toBe(
        'Failed to initialize: unable to resolve docker endpoint: Specify only one -H',
      );
      expect((await run('tsctr', ['bogus'], config())).stderr).toBe(
        "tsctr: unknown command: tsctr bogus\n\nRun 'tsctr --help' for more information",
      );
    });

    it('says "permission denied" to a user who may not use the socket', async () => {
      const r = await execa(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', ...current.command, 'ps'],
        {
          env: { ...config(), DOCKER_HOST: `unix://${daemon.socketPath}`, HOME: '/nonexistent' },
          reject: false,
        },
      );
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(
        `permission denied while trying to connect to the tsctr daemon socket at unix://${daemon.socketPath}`,
      );
    });

    const noSshd = !existsSync('/usr/sbin/sshd');
    if (noSshd)
      console.warn(
        'ssh:// tests skipped: /usr/sbin/sshd is missing (tools/bootstrap installs openssh-server)',
      );
    describe.skipIf(noSshd)('ssh://', () => {
      let sshd: ChildProcess | undefined;
      let sshPort: number;
      let sshDir: string;

      beforeAll(async () => {
        sshDir = join(dir, 'ssh');
        await mkdir(sshDir, { recursive: true });
        const keygen = (file: string) =>
          execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(sshDir, file)]);
        await keygen('host_key');
        await keygen('client_key');
        sshPort = await freePort();
        await writeFile(
          join(sshDir, 'sshd_config'),
          [
            `Port ${sshPort}`,
            'ListenAddress 127.0.0.1',
            `HostKey ${join(sshDir, 'host_key')}`,
            `PidFile ${join(sshDir, 'sshd.pid')}`,
            `AuthorizedKeysFile ${join(sshDir, 'authorized_keys')}`,
            'PasswordAuthentication no',
            'KbdInteractiveAuthentication no',
            'PermitRootLogin prohibit-password',
            'StrictModes no',
            'UsePAM no',
            '',
          ].join('\n'),
        );
        // The remote end: the command the client asked for must be `tsctr system dial-stdio` (or
        // docker's), run against the test daemon.
        await writeFile(
          join(sshDir, 'remote.sh'),
          `#!/bin/sh
export DOCKER_HOST=unix://${daemon.socketPath}
case "$SSH_ORIGINAL_COMMAND" in
  "tsctr system dial-stdio") exec ${current.shell} system dial-stdio ;;
  "docker system dial-stdio") exec ${DOCKER_CLI} system dial-stdio ;;
  *) echo "unexpected remote command: $SSH_ORIGINAL_COMMAND" >&2; exit 1 ;;
esac
`,
        );
        await chmod(join(sshDir, 'remote.sh'), 0o755);
        const pub = (await readFile(join(sshDir, 'client_key.pub'), 'utf8')).trim();
        await writeFile(
          join(sshDir, 'authorized_keys'),
          `command="${join(sshDir, 'remote.sh')}",no-pty ${pub}\n`,
        );
        await writeFile(
          join(sshDir, 'ssh_config'),
          `Host *\n  IdentityFile ${join(sshDir, 'client_key')}\n  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  BatchMode yes\n  LogLevel ERROR\n`,
        );
        // The clients run `ssh` from the PATH: this one uses the test's key and config.
        await mkdir(join(sshDir, 'bin'));
        await writeFile(
          join(sshDir, 'bin', 'ssh'),
          `#!/bin/sh\nexec /usr/bin/ssh -F ${join(sshDir, 'ssh_config')} "$@"\n`,
        );
        await chmod(join(sshDir, 'bin', 'ssh'), 0o755);
        await mkdir('/run/sshd', { recursive: true });
        sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(sshDir, 'sshd_config')], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        await new Promise<void>((resolve, reject) => {
          let log = '';
          sshd!.stderr!.on('data', (c: Buffer) => {
            log += c.toString();
            if (log.includes('Server listening')) resolve();
          });
          sshd!.once('exit', (code) => reject(new Error(`sshd exited ${code}: ${log}`)));
        });
      }, 60_000);

      afterAll(() => {
        sshd?.kill();
      });

      it('reaches the daemon through `ssh … tsctr system dial-stdio`, from both CLIs', async () => {
        const env = { ...config(), PATH: `${join(sshDir, 'bin')}:${process.env.PATH}` };
        const host = `ssh://root@127.0.0.1:${sshPort}`;
        for (const cli of ['tsctr', 'docker'] as const) {
          const ps = await run(cli, ['-H', host, 'ps', '--format', '{{.Names}}'], env);
          expect(ps, cli).toMatchObject({ exitCode: 0 });
          expect(ps.stdout.split('\n')).toContain('remote-env');
        }
        const exec = await run('tsctr', ['-H', host, 'exec', '-i', 'remote-env', 'cat'], env, 'through ssh');
        expect(exec).toMatchObject({ exitCode: 0, stdout: 'through ssh' });
        // A context may name an ssh host too.
        const cfg = { ...env, DOCKER_CONFIG: join(dir, 'ssh-config') };
        expect(
          (await run('tsctr', ['context', 'create', 'over-ssh', '--docker', `host=${host}`], cfg)).exitCode,
        ).toBe(0);
        expect((await run('docker', ['--context', 'over-ssh', 'ps', '-q'], cfg)).exitCode).toBe(0);
        expect((await run('tsctr', ['--context', 'over-ssh', 'ps', '-q'], cfg)).exitCode).toBe(0);
      }, 60_000);
    });

    it('ends a handshake without an acceptable certificate with a TLS alert, which the docker CLI reports', async () => {
      // The docker CLI (Go) sends no certificate that the daemon's CertificateRequest does not list
      // a CA for, so the daemon's "certificate required" alert answers both cases, as dockerd's would.
      const tls = (cert?: string) => [
        '-H',
        tcpHost,
        '--tlsverify',
        '--tlscacert',
        join(certs, 'ca.pem'),
        ...(cert
          ? ['--tlscert', join(cert, 'client-cert.pem'), '--tlskey', join(cert, 'client-key.pem')]
          : []),
        'ps',
      ];
      for (const cert of [undefined, otherCerts]) {
        const r = await run('docker', tls(cert), config());
        expect(r.exitCode).toBe(1);
        expect(r.stderr).toMatch(/^error during connect: .*: remote error: tls: certificate required$/);
      }
      const noCert = await run('tsctr', tls(), config());
      expect(noCert).toMatchObject({ exitCode: 1, stdout: '' });
      expect(noCert.stderr).toMatch(/remote error: tls: certificate required/);
    }, 60_000);
  },
);

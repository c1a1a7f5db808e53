import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI_RUNTIMES, DOCKER_CLI, TestDaemon, e2eSkipReason, tsctrArgv } from '@ts-container/test-harness';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const skip = e2eSkipReason();
if (skip) console.warn(`context --docker from= tests skipped: ${skip}`);

describe.skipIf(skip !== undefined).each(CLI_RUNTIMES)(
  'context create --docker from=CONTEXT (tsctr: $name)',
  (runtime) => {
    let daemon: TestDaemon;
    let env: Record<string, string>;

    /** One CLI with only this test's config directory (no DOCKER_HOST: contexts choose the daemon). */
    const run = async (cli: 'tsctr' | 'docker', args: string[]) => {
      const base = Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_')),
      ) as Record<string, string>;
      const [program, argv] = cli === 'tsctr' ? tsctrArgv(args, runtime) : [DOCKER_CLI, args];
      const r = await execa(program, argv, {
        env: { ...base, ...env },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
      });
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
    };

    beforeAll(async () => {
      daemon = await TestDaemon.start();
      env = { DOCKER_CONFIG: join(daemon.dir, 'contexts-config') };
      await daemon.importBusybox();
      await daemon.tsctr(['create', '--name', 'from-ctx', 'busybox', 'true']);
    }, 120_000);

    afterAll(async () => {
      await daemon?.destroy();
      if (env) await rm(env.DOCKER_CONFIG!, { recursive: true, force: true });
    });

    it('copies the endpoint of another context, and both CLIs use the result', async () => {
      const host = `unix://${daemon.socketPath}`;
      expect(await run('docker', ['context', 'create', 'origin', '--docker', `host=${host}`])).toMatchObject({
        exitCode: 0,
      });
      // Made by tsctr from the docker CLI's context; and by the docker CLI from tsctr's.
      expect(
        await run('tsctr', ['context', 'create', 'copy-by-tsctr', '--docker', 'from=origin']),
      ).toMatchObject({ exitCode: 0, stdout: 'copy-by-tsctr' });
      expect(
        await run('docker', ['context', 'create', 'copy-by-docker', '--docker', 'from=copy-by-tsctr']),
      ).toMatchObject({ exitCode: 0 });
      for (const cli of ['tsctr', 'docker'] as const)
        for (const name of ['copy-by-tsctr', 'copy-by-docker']) {
          const ps = await run(cli, ['--context', name, 'ps', '-a', '--format', '{{.Names}}']);
          expect(ps, `${cli} --context ${name}`).toMatchObject({ exitCode: 0, stdout: 'from-ctx' });
        }
      // The same metadata as the docker CLI writes for the same command.
      const inspect = (cli: 'tsctr' | 'docker', name: string) =>
        run(cli, ['context', 'inspect', name, '--format', '{{json .Endpoints}} {{json .TLSMaterial}}']);
      expect((await inspect('docker', 'copy-by-tsctr')).stdout).toBe(
        (await inspect('docker', 'copy-by-docker')).stdout,
      );
      expect((await inspect('tsctr', 'copy-by-tsctr')).stdout).toBe(
        `{"docker":{"Host":"${host}","SkipTLSVerify":false}} {}`,
      );
    }, 60_000);

    it('ignores the other keys beside from=, rejects unknown ones, and names a missing context as docker does', async () => {
      expect(
        await run('tsctr', [
          'context',
          'create',
          'with-host',
          '--docker',
          'from=origin,host=tcp://192.0.2.1:2375',
        ]),
      ).toMatchObject({ exitCode: 0 });
      expect((await run('docker', ['--context', 'with-host', 'ps', '-aq'])).exitCode).toBe(0);
      for (const cli of ['tsctr', 'docker'] as const) {
        const unknown = await run(cli, [
          'context',
          'create',
          `bad-${cli}`,
          '--docker',
          'from=origin,bogus=1',
        ]);
        expect(unknown).toMatchObject({
          exitCode: 1,
          stderr: 'unable to create docker endpoint config: unrecognized config key: bogus',
        });
        const missing = await run(cli, ['context', 'create', `bad-${cli}`, '--docker', 'from=nope']);
        expect(missing.exitCode).toBe(1);
        expect(missing.stderr).toMatch(
          /^unable to create docker endpoint config: context "nope": context not found: open .*meta\.json: no such file or directory$/,
        );
      }
    }, 60_000);
  },
);

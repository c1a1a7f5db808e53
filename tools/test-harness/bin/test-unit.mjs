#!/usr/bin/env node
// `test:unit` of every package: the tests that need no root, no daemons and no network.
//
// The rule: a test that needs root, a daemon (tsctrd, docker-registry, sshd…) or the network
// already skips, with its printed reason, when what it needs is missing (house rule). So a unit
// run is the package's `vitest run` with those things taken away:
//   - as an unprivileged user (uid/gid 65534) when started as root, so every root check skips;
//   - with TSCTR_TEST_UNIT=1, which @ts-container/test-harness reads: no test daemon, no
//     registry (e2eSkipReason, hasRegistry).
// `test` runs the same files with everything this machine offers. Arguments go to vitest
// (apps pass `src` to leave out their end-to-end folder, which would only skip).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(join(process.cwd(), 'package.json'));
const vitest = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
// `--configLoader runner`: vite would otherwise write its bundled config beside the package's,
// which the unprivileged user may not.
const args = [vitest, 'run', '--configLoader', 'runner', '--passWithNoTests', ...process.argv.slice(2)];
const env = { ...process.env, TSCTR_TEST_UNIT: '1' };

let cmd = process.execPath;
let argv = args;
if (process.getuid?.() === 0) {
  cmd = 'setpriv';
  argv = ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, ...args];
  env.HOME = '/tmp';
}
const r = spawnSync(cmd, argv, { stdio: 'inherit', env });
if (r.error) {
  process.stderr.write(`test:unit: cannot run ${cmd}: ${r.error.message}\n`);
  process.exit(1);
}
process.exit(r.status ?? 1);

#!/usr/bin/env node
// Compiles the CLI bundle (dist/main.js) into one executable with Bun, with the bytecode of
// every function precompiled: `tsctr --version` then starts in about a third of the Node
// bundle's time (Node alone takes longer to start than the whole compiled command). What
// tools/bootstrap links as /usr/local/bin/tsctr; the npm bin (dist/index.js, Node) stays the
// published one. The Bun to use: $TSCTR_BUN, else the one tools/bootstrap installs (.cache/bun).
// Exits 0 with compiled/tsctr checked (it must print the bundle's version), else non-zero with
// the reason, and no binary left behind.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const bun = process.env.TSCTR_BUN || join(here, '../../.cache/bun/node_modules/.bin/bun');
const out = join(here, 'compiled/tsctr');
const tmp = `${out}.${process.pid}`;

function fail(why) {
  rmSync(tmp, { force: true });
  process.stderr.write(`compile: ${why}\n`);
  process.exit(1);
}

if (!existsSync(bun)) fail(`no Bun at ${bun} (tools/bootstrap installs it; or set TSCTR_BUN)`);
if (!existsSync(join(here, 'dist/main.js'))) fail('dist/main.js is missing: build first (pnpm build)');
mkdirSync(dirname(out), { recursive: true });
try {
  execFileSync(bun, ['build', '--compile', '--bytecode', join(here, 'dist/main.js'), '--outfile', tmp], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
} catch (err) {
  fail(`bun build failed: ${err.stderr?.toString().trim() || err.message}`);
}
let version;
try {
  version = execFileSync(tmp, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
} catch (err) {
  fail(`the compiled binary does not run here: ${err.stderr?.toString().trim() || err.message}`);
}
const expected = execFileSync(process.execPath, [join(here, 'dist/index.js'), '--version'], {
  encoding: 'utf8',
  env: { ...process.env, TSCTR_NO_COMPILE_CACHE: '1' },
}).trim();
if (version !== expected)
  fail(`the compiled binary says ${JSON.stringify(version)}, the bundle ${JSON.stringify(expected)}`);
renameSync(tmp, out);
process.stdout.write(`compile: ${out} (${version})\n`);

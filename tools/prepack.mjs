#!/usr/bin/env node
// `prepack` of every published package: builds it (and the workspace packages it depends on)
// with turbo, so `pnpm pack`/`pnpm publish` of a clean clone ships dist/. `pnpm release` builds
// everything once first and sets TSCTR_PREBUILT=1, so the packages `changeset publish` packs side
// by side do not each start a build of the shared dependencies at the same time.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

if (process.env.TSCTR_PREBUILT === '1') process.exit(0);
const { name } = JSON.parse(readFileSync('package.json', 'utf8'));
execFileSync('turbo', ['run', 'build', `--filter=${name}`, '--output-logs=errors-only'], {
  stdio: ['ignore', 'inherit', 'inherit'],
});

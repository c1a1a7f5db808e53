#!/usr/bin/env node
import { isatty } from 'node:tty';
import { runCli } from '@ts-container/cli';
import { LazyOutput } from './output.js';

// `tsctr events | head`: a reader that went away ends the command quietly, as the docker CLI does.
const stdout = new LazyOutput(1, (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const stderr = new LazyOutput(2, (err) => {
  throw err;
});

// No top-level await: the bundle is CommonJS (see tsup.config.ts).
void runCli(
  process.argv.slice(2),
  {
    stdout: stdout.writable(),
    stderr: stderr.writable(),
    // Made on first use: most commands never read stdin, and opening it costs start-up time.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    // Asked on first use: node:tty loads Bun's streams.
    get stdoutIsTTY() {
      return isatty(1);
    },
  },
  {
    program: 'tsctr',
    // Loaded when needed: `tsctr --version` has no use for the API client.
    startDaemon: async (socketPath) => (await import('./start-daemon.js')).startDaemon(socketPath),
  },
).then((code) => process.exit(code)); // every write has reached its descriptor by now (output.ts)

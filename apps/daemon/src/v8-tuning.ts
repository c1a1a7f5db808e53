import { setFlagsFromString } from 'node:v8';

/**
 * The bytecode a function runs between two of V8's tier-up checks (`--interrupt-budget`): 1/8
 * of Node 20's default (67,584). A daemon answers many short calls, each running a little of the
 * same code (the lean front, routing, a handler, the answer); with the default budget that path
 * ran unoptimised for the first ~1,000 calls after a start (0.20–0.23 ms a `GET /_ping` round
 * trip), with this one it is optimised after a few hundred (measured in tools/bench `api`, a
 * fresh daemon against a fresh dockerd, 4 runs interleaved: `_ping` 1.21× Docker's time → 1.02×,
 * `GET /containers/json` 1.03× → 0.90×), for ~3 MiB of RSS and ~70 ms of CPU more over the
 * first 2,000 calls.
 */
export const DAEMON_INTERRUPT_BUDGET = 8192;

/**
 * When V8 starts marking the old generation (`--incremental-marking-soft-trigger`): once 90% of
 * the room between its size after the last full collection and its limit is used. By default it
 * starts as soon as that room is smaller than the young generation (16 MiB here), and a daemon's
 * old generation is small (~14 MiB, limit ~55): while a pull or load streamed buffers, the
 * buffers in flight made it start a full collection every ~30 ms. Measured on a pull of 60 MB
 * (3 gzip layers, local registry), 6 runs each: 54 full collections → 1, the daemon's CPU
 * 460–550 → 230–330 ms, wall 350–460 → 205–260 ms; the bench's `daemon-memory` figures
 * unchanged (idle 63.6 vs 66.4 MiB, 0.23 vs 0.24 MiB per running container).
 */
export const DAEMON_MARKING_SOFT_TRIGGER_PERCENT = 90;

/**
 * Tunes V8 for a long-lived daemon; called first thing, before serving. Both flags are read by
 * V8 each time it decides, so setting them at run time takes effect (the daemon is started as
 * plain `node`). Only the daemon does this: the CLI is a short-lived process.
 */
export function tuneV8ForDaemon(): void {
  setFlagsFromString(`--interrupt-budget=${DAEMON_INTERRUPT_BUDGET}`);
  setFlagsFromString(`--incremental-marking-soft-trigger=${DAEMON_MARKING_SOFT_TRIGGER_PERCENT}`);
}

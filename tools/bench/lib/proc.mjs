// Running commands with a wall-clock timing and a hard time limit, and talking HTTP to a
// daemon's unix socket (to seed hundreds of containers without paying for a CLI each time).
import { spawn } from 'node:child_process';
import { request } from 'node:http';

export class CommandFailed extends Error {
  constructor(cmd, args, result) {
    const output = (result.stderr || result.stdout || '').trim().replace(/\s+/g, ' ');
    super(`${[cmd, ...args].join(' ')} exited ${result.code}: ${output}`.slice(0, 400));
    this.result = result;
  }
}

/**
 * Runs `cmd args`, resolving to { code, stdout, stderr, ms }. `ms` is spawn-to-exit wall time,
 * which is what a user waiting at a shell prompt sees.
 */
export function run(cmd, args, { env, input, timeoutMs = 120_000, cwd, check = true } = {}) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, {
      env: env ? { ...process.env, ...env } : process.env,
      cwd,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out = [];
    const err = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const result = {
        code: code ?? (signal ? 128 : -1),
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        ms,
      };
      if (signal === 'SIGKILL') result.stderr += `\n(killed after ${timeoutMs} ms)`;
      if (check && result.code !== 0) reject(new CommandFailed(cmd, args, result));
      else resolve(result);
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/** A shell one-liner (for pipes); same result shape as run(). */
export function sh(script, options = {}) {
  return run('sh', ['-c', script], options);
}

/** One HTTP request over a unix socket; resolves to { status, body, ms }. */
export function unixRequest(socketPath, method, path, body) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        timeout: 60_000,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            body: Buffer.concat(chunks).toString(),
            ms: Number(process.hrtime.bigint() - start) / 1e6,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool(items, limit, fn) {
  const results = [];
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return results;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** True while a spawned child has neither exited nor been killed by a signal. */
export const alive = (child) => !!child && child.exitCode === null && child.signalCode === null;

/** Resolves to `promise`'s value, or rejects after `ms` (cleanup must never hang the suite). */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

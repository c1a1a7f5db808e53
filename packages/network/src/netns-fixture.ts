import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll } from 'vitest';
import { NetworkManager, type NetworkManagerOptions, createNetns, removeNetns } from './index.js';

// The fixture of the tests that need root: a NetworkManager on private names (`tst<pid>`) and a
// temporary directory, namespaces and helpers to look inside them, and a cleanup of everything.
// Each test file runs in its own process, so its names are its own.

export const isRoot = process.getuid?.() === 0;
export const tools = ['ip', 'nft', 'busybox', 'nsenter', 'unshare'];
export const missing = (
  await Promise.all(
    tools.map(async (t) => ((await execa('which', [t], { reject: false })).exitCode === 0 ? '' : t)),
  )
).filter(Boolean);
export const canRun = isRoot && missing.length === 0;
if (!canRun) {
  console.warn(
    `skipping network integration tests: ${isRoot ? `missing tools: ${missing.join(', ')}` : 'not root'}`,
  );
}

export const id = `tst${process.pid}`;
export const octet = process.pid % 250;
export const cid = (n: number) => `${String(n).repeat(12)}${'f'.repeat(52)}`.slice(0, 64);

/** Runs a command inside a namespace; resolves with exit code and output (never throws). */
export async function inNetns(path: string, ...command: string[]) {
  const r = await execa('nsenter', [`--net=${path}`, ...command], { reject: false, timeout: 20_000 });
  return { ok: r.exitCode === 0, out: `${r.stdout}\n${r.stderr}` };
}

export async function httpGet(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return response.text();
}

/** Waits until an HTTP server answers on port 80 inside the namespace. */
export async function waitForHttpd(path: string) {
  for (let i = 0; i < 50; i++) {
    if ((await inNetns(path, 'busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1/')).ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`httpd in ${path} did not start`);
}

export async function linkExists(name: string) {
  return (await execa('ip', ['link', 'show', 'dev', name], { reject: false })).exitCode === 0;
}

export async function nftTable(table: string) {
  const r = await execa('nft', ['list', 'table', 'ip', table], { reject: false });
  return r.exitCode === 0 ? r.stdout : undefined;
}

export async function stateOf(manager: NetworkManager) {
  return JSON.parse(await readFile(manager.stateFile, 'utf8')) as {
    endpoints: { containerId: string; ipAddress: string; hostVeth: string }[];
    ports: unknown[];
    networks: { name: string }[];
  };
}

export let dir: string;
export let manager: NetworkManager;
export const namespaces: string[] = [];
export const processes: ChildProcess[] = [];
export const servers: Server[] = [];
export const extraManagers: NetworkManager[] = [];
export const extraLinks: string[] = [];

export const options = (suffix = ''): NetworkManagerOptions => ({
  stateDir: join(dir, `state${suffix}`),
  defaultBridge: { name: `${id}${suffix}` },
  firewallTable: `${id}${suffix}`,
});

export async function netns(name: string) {
  const path = join(dir, 'netns', name);
  await createNetns(path);
  namespaces.push(path);
  return path;
}

/** Registers the fixture's setup and cleanup; call it inside the describe block of a test file. */
export function useNetnsFixture(): void {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsctr-network-'));
    manager = new NetworkManager(options());
    await manager.init();
  });

  afterAll(async () => {
    for (const child of processes) child.kill('SIGKILL');
    for (const server of servers) server.close();
    await manager?.teardown();
    for (const m of extraManagers) await m.teardown();
    for (const link of extraLinks) await execa('ip', ['link', 'del', link], { reject: false });
    for (const path of namespaces) await removeNetns(path);
    if (dir) await rm(dir, { recursive: true, force: true });
  });
}

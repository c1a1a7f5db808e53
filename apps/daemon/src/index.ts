#!/usr/bin/env node
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@ts-container/common';
import { BridgeNetworking, Engine, resolveUsernsRemap } from '@ts-container/engine';
import { type DefaultBridgeConfig, NetworkManager } from '@ts-container/network';
import { type DaemonOptions, UsageError, parseDaemonArgs } from './daemon-config.js';
import { releaseMemoryWhenIdle } from './idle-memory.js';
import { openListeners, socketAlive } from './listeners.js';
import { createApiServer } from './server.js';
import { tuneV8ForDaemon } from './v8-tuning.js';

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const;

function makeLogger(level: keyof typeof LEVELS): Logger {
  const log = (l: keyof typeof LEVELS, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[l] < LEVELS[level]) return;
    const text = fields && Object.keys(fields).length > 0 ? `${msg} ${JSON.stringify(fields)}` : msg;
    process.stderr.write(`time="${new Date().toISOString()}" level=${l} msg=${JSON.stringify(text)}\n`);
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  };
}

/**
 * The daemon's networks: state under the data root, the default bridge from --bridge/--bip, and a
 * firewall table named after the bridge so private daemons (tests) never touch each other's rules.
 */
function createNetworkManager(options: DaemonOptions, logger: Logger): NetworkManager {
  let defaultBridge: DefaultBridgeConfig = { name: options.bridge };
  if (options.bip) {
    // --bip is the bridge's own address with the prefix (172.17.0.1/16), as in dockerd.
    const [address = ''] = options.bip.split('/');
    defaultBridge = { name: options.bridge, subnet: options.bip, gateway: address };
  }
  return new NetworkManager({
    stateDir: join(options.dataRoot, 'network'),
    defaultBridge,
    firewallTable:
      options.bridge === 'tsctr0' ? 'tsctr' : `tsctr_${options.bridge.replace(/[^A-Za-z0-9_]/g, '_')}`,
    logger,
  });
}

async function main(): Promise<void> {
  tuneV8ForDaemon();
  const options = await parseDaemonArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new UsageError('tsctrd needs to be started as root');
  const logger = makeLogger(options.logLevel);
  // Refuse a served socket before touching anything else (a second daemon on the same state).
  for (const host of options.hosts)
    if (host.kind === 'unix' && (await socketAlive(host.path)))
      throw new UsageError(`another daemon is already serving ${host.path}`);
  // The networking is built before the engine (the engine is built with it) and learns the
  // containers once the engine has loaded them; init then drops endpoints of dead containers.
  const opened: { engine?: Engine } = {};
  const networking = new BridgeNetworking({
    manager: createNetworkManager(options, logger),
    netnsDir: join(options.execRoot, 'netns'),
    containers: () => opened.engine?.containerStore,
    logger,
  });
  const engine = await Engine.open({
    dataRoot: options.dataRoot,
    execRoot: options.execRoot,
    storageDriver: options.storageDriver,
    cgroupParent: options.cgroupParent,
    networking,
    registry: {
      mirrors: options.registryMirrors,
      insecureRegistries: options.insecureRegistries,
      ...(options.certsDirs ? { certsDirs: options.certsDirs } : {}),
    },
    ...(options.imageGcBudget ? { imageGcBudget: options.imageGcBudget } : {}),
    logger,
    ...(options.runtime ? { runtime: options.runtime } : {}),
    ...(options.usernsRemap ? { usernsRemap: await resolveUsernsRemap(options.usernsRemap) } : {}),
  });
  opened.engine = engine;
  await networking.init();
  await engine.swarm.reconcile();
  const server = createApiServer(engine, logger, { logCalls: options.logLevel === 'debug' });
  releaseMemoryWhenIdle(server);
  const listeners = await openListeners(server, options, logger);
  await writeFile(join(options.execRoot, 'tsctrd.pid'), `${process.pid}\n`);
  logger.info(
    `API listen on ${listeners.map((l) => l.address).join(', ')} (storage driver ${engine.snapshotter.driver.name}, runtime ${engine.runtime.oci.info.name})`,
  );
  const shutdown = (signal: string) => {
    logger.info(`received ${signal}, shutting down; containers keep running under their monitors`);
    server.close();
    void Promise.all(listeners.map((l) => l.close().catch(() => undefined)))
      .then(() => networking.manager.close())
      // Loaded blobs whose sync was still to come: synced now, so the next start has none to verify.
      .then(() => engine.content.flushUnsynced())
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(err.message.startsWith('Usage') ? 0 : 1);
  }
  process.stderr.write(`tsctrd: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

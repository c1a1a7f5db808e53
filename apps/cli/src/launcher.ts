#!/usr/bin/env node
/**
 * The `tsctr` bin: runs the bundle (dist/main.js) from a V8 code cache kept under
 * ~/.cache/tsctr, so that a command does not parse and compile 400 KB of JavaScript again on
 * every run. Node 22.1+ does this itself (module.enableCompileCache); on Node 20 the bundle is
 * compiled through vm.Script with the cached data, and the cache is written once, at the exit of
 * the first run (so it holds the functions that run compiled, not only the top level).
 * A vm.Script has no loader for `import()`: the bundle must have no dynamic import
 * (test/bundle.test.ts checks it).
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

const bundle = join(__dirname, 'main.js');
const cacheDir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tsctr');
const builtin = (Module as unknown as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;

if (process.env.TSCTR_NO_COMPILE_CACHE) {
  require(bundle);
} else if (builtin) {
  builtin(cacheDir);
  require(bundle);
} else {
  runCached();
}

function runCached(): void {
  const source = readFileSync(bundle, 'utf8');
  const { size, mtimeMs } = statSync(bundle);
  // One cache per installed bundle: a rebuild or another Node replaces it rather than adding one.
  const prefix = `main-${pathHash(bundle)}-`;
  const cacheFile = join(cacheDir, `${prefix}${size}-${Math.floor(mtimeMs)}-${process.version}.v8`);
  let cached: Buffer | undefined;
  try {
    cached = readFileSync(cacheFile);
  } catch {
    // No cache yet (or an unreadable one): compile from source and write it at exit.
  }
  const script = new Script(Module.wrap(source.replace(/^#!.*/, '')), {
    filename: bundle,
    ...(cached ? { cachedData: cached } : {}),
  });
  if (!cached || script.cachedDataRejected) {
    process.once('exit', () => {
      try {
        mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
        writeFileSync(`${cacheFile}.${process.pid}`, script.createCachedData(), { mode: 0o600 });
        renameSync(`${cacheFile}.${process.pid}`, cacheFile);
        for (const old of readdirSync(cacheDir))
          if (old.startsWith(prefix) && join(cacheDir, old) !== cacheFile)
            rmSync(join(cacheDir, old), { force: true });
      } catch {
        // A read-only or foreign home only costs the speed-up; the command has run.
      }
    });
  }
  const module = new Module(bundle);
  module.filename = bundle;
  (module as unknown as { paths: string[] }).paths = (
    Module as unknown as { _nodeModulePaths(dir: string): string[] }
  )._nodeModulePaths(dirname(bundle));
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(module.exports, module.exports, Module.createRequire(bundle), module, bundle, dirname(bundle));
}

/**
 * FNV-1a of the bundle's path, to name its cache: node:crypto would cost the command more to
 * load (with the streams it pulls in) than the rest of the launcher.
 */
function pathHash(path: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}
